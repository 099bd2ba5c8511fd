# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Diarization error rate (DER) with ``pyannote.metrics``.

RTTM files are read and written by :mod:`espnet_echo.data.rttm` (``read_rttm`` and
``write_rttm`` are re-exported here).

Collar convention:
    ``collar`` in this module (and ``--collar`` of ``espnet_echo.bin.score``) follows
    NIST md-eval / dscore: a no-score zone of ``collar`` seconds on EACH side of every
    reference segment boundary, so ``collar=0.25`` removes 0.5 s around each boundary.
    ``pyannote.metrics`` takes the TOTAL width of that zone (it removes
    ``Segment(t - collar / 2, t + collar / 2)`` around each boundary ``t``; see
    ``UEMSupportMixin.extrude`` in ``pyannote/metrics/utils.py``), so we hand
    ``2 * collar`` to :class:`pyannote.metrics.diarization.DiarizationErrorRate`.

Overlapped speech is scored (``skip_overlap=False``): in a region where two reference
speakers talk, the reference carries two seconds of speaker time per second, and a
one-speaker hypothesis misses one of them.
"""

from dataclasses import asdict, dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.diarization import DiarizationErrorRate

# The one RTTM reader/writer lives in espnet_echo.data.rttm; re-exported here for the
# tools that import it from the metrics module.
from espnet_echo.data.rttm import OTHER_RTTM_TYPES, read_rttm, write_rttm

__all__ = [
    "DERResult", "OTHER_RTTM_TYPES", "compute_der", "compute_der_collars", "read_rttm",
    "write_rttm",
]


@dataclass
class DERResult:
    """Corpus-level DER at one collar, accumulated over all utterances.

    Percentages are of ``scored_speech_s``, the reference speaker time in the scored
    region (overlapped speech counts once per speaker); DER = missed + false_alarm +
    confusion. The ``*_s`` fields are the raw seconds, so results can be re-accumulated.
    A percentage is None when there is no reference speech at all.
    """

    collar: float
    der: Optional[float]
    missed: Optional[float]
    false_alarm: Optional[float]
    confusion: Optional[float]
    scored_speech_s: float
    missed_s: float
    false_alarm_s: float
    confusion_s: float
    num_utts: int
    num_utts_missing: int

    def to_dict(self) -> Dict[str, object]:
        """Return a JSON-ready dict."""
        return asdict(self)


def compute_der(
    references: Mapping[str, Annotation],
    hypotheses: Mapping[str, Annotation],
    durations: Optional[Mapping[str, float]] = None,
    collar: float = 0.0,
    uems: Optional[Mapping[str, Sequence[Tuple[float, float]]]] = None,
) -> DERResult:
    """Global, duration-weighted DER over all reference utterances.

    Missed, false-alarm and confusion seconds are summed over utterances (pyannote's
    accumulated components) before dividing by the summed reference speaker time, so
    long files weigh more; this is not the mean of per-file DERs.

    An utterance present in ``references`` but absent from ``hypotheses`` is scored
    against an empty hypothesis, i.e. all its reference speech counts as missed (it is
    also counted in ``num_utts_missing``). A hypothesis that is present but empty (no
    speech detected) is legal and scored the same way.

    Turns of the same label that overlap or touch are merged first
    (:meth:`Annotation.support`), so a duplicated hypothesis turn is not counted twice.

    Args:
        references: ``{utt: Annotation}``; its keys are the utterances scored.
        hypotheses: ``{utt: Annotation}``; speaker labels are arbitrary per utterance
            (optimal one-to-one mapping by the Hungarian algorithm).
        durations: ``{utt: seconds}`` of each recording; the scored region (UEM) is
            ``[0, duration]`` and hypothesis speech outside it is ignored. If None, the
            UEM is the union of reference and hypothesis extents (as pyannote does).
        collar: No-score zone in seconds on each side of every reference boundary
            (md-eval convention; pyannote receives ``2 * collar``, see module docstring).
        uems: ``{utt: [(start, end), ...]}`` scored regions in seconds (a ``uem`` file);
            an utterance listed here is scored on these ranges instead of
            ``[0, duration]``; speech of either side outside them is ignored.

    Returns:
        The accumulated :class:`DERResult`.

    Raises:
        ValueError: a hypothesis utterance is not in ``references``, a duration is
            missing, a UEM range is reversed, or ``collar`` is negative.
    """
    if collar < 0:
        raise ValueError(f"collar must be >= 0, got {collar}")
    unknown = sorted(set(hypotheses) - set(references))
    if unknown:
        raise ValueError(f"hypothesis utterances not in the reference: {unknown[:5]}")
    metric = DiarizationErrorRate(collar=2.0 * collar, skip_overlap=False)
    num_missing = 0
    for utt, ref in references.items():
        hyp = hypotheses.get(utt)
        if hyp is None:
            num_missing += 1
            hyp = Annotation(uri=utt)
        ref, hyp = ref.support(), hyp.support()
        if uems is not None and utt in uems:
            ranges = []
            for start, end in uems[utt]:
                if not end >= start:
                    raise ValueError(f"UEM range of {utt!r} ends before it starts: "
                                     f"{start} {end}")
                if end > start:
                    ranges.append(Segment(float(start), float(end)))
            metric(ref, hyp, uem=Timeline(ranges, uri=utt).support())
            continue
        if durations is not None:
            if utt not in durations:
                raise ValueError(f"no duration for utterance {utt!r}")
            extent = Segment(0.0, float(durations[utt]))
        else:
            extent = ref.get_timeline().extent() | hyp.get_timeline().extent()
        uem = Timeline([extent] if extent else [], uri=utt)
        metric(ref, hyp, uem=uem)
    total = metric["total"]
    missed, fa, conf = metric["missed detection"], metric["false alarm"], metric["confusion"]

    def pct(x: float) -> Optional[float]:
        return 100.0 * x / total if total > 0 else None

    return DERResult(
        collar=float(collar),
        der=pct(missed + fa + conf),
        missed=pct(missed),
        false_alarm=pct(fa),
        confusion=pct(conf),
        scored_speech_s=float(total),
        missed_s=float(missed),
        false_alarm_s=float(fa),
        confusion_s=float(conf),
        num_utts=len(references),
        num_utts_missing=num_missing,
    )


def compute_der_collars(
    references: Mapping[str, Annotation],
    hypotheses: Mapping[str, Annotation],
    durations: Optional[Mapping[str, float]] = None,
    collars: Sequence[float] = (0.0, 0.25),
    uems: Optional[Mapping[str, Sequence[Tuple[float, float]]]] = None,
) -> List[DERResult]:
    """:func:`compute_der` at each collar (md-eval convention), in the given order."""
    return [compute_der(references, hypotheses, durations, c, uems) for c in collars]

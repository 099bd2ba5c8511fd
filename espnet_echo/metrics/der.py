# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Diarization error rate (DER) with ``pyannote.metrics``, and strict RTTM reading/writing.

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

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Collection, Dict, List, Mapping, Optional, Sequence, Union

from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.diarization import DiarizationErrorRate

from espnet_echo.utils.fileio import DataFileError, atomic_open

# NIST RTTM types other than SPEAKER: legal in an RTTM file, ignored for diarization.
_OTHER_RTTM_TYPES = frozenset(
    {
        "SEGMENT", "NOSCORE", "NO_RT_METADATA", "LEXEME", "NON-LEX", "NON-SPEECH",
        "FILLER", "EDITED", "IP", "SU", "CB", "A/P", "SPKR-INFO",
    }
)


def read_rttm(
    path: Union[str, Path], known_utts: Optional[Collection[str]] = None
) -> Dict[str, Annotation]:
    """Read the SPEAKER lines of an RTTM file into one pyannote Annotation per utterance.

    Line format: ``SPEAKER <utt> <chnl> <tbeg> <tdur> <ortho> <stype> <name> <conf> [<slat>]``
    (9 or 10 fields). Blank lines and ``;;`` comments are skipped, as are lines of the
    other NIST RTTM types (``SPKR-INFO``, ``LEXEME``, ...). Zero-duration turns are
    dropped (pyannote ignores empty segments).

    ``pyannote.database.util.load_rttm`` is not used: it parses with pandas and cannot say
    which line is wrong.

    Args:
        path: RTTM file.
        known_utts: If given, a line whose ``<utt>`` is not in it is an error.

    Returns:
        ``{utt: Annotation}`` in order of first appearance; track names are ``L<line>``.

    Raises:
        DataFileError: missing file, wrong field count, unknown type, non-numeric,
            negative or non-finite time, or unknown utterance; the message names
            ``path:line``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    known = None if known_utts is None else set(known_utts)
    out: Dict[str, Annotation] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields or fields[0].startswith(";;"):
                continue
            where = f"{path}:{lineno}"
            if fields[0] != "SPEAKER":
                if fields[0] in _OTHER_RTTM_TYPES:
                    continue
                raise DataFileError(
                    f"{where}: unknown RTTM type {fields[0]!r}: {line.strip()!r}"
                )
            if len(fields) not in (9, 10):
                raise DataFileError(
                    f"{where}: expected 10 fields 'SPEAKER <utt> <chnl> <tbeg> <tdur> "
                    f"<NA> <NA> <spk> <NA> <NA>', got {len(fields)}: {line.strip()!r}"
                )
            utt, label = fields[1], fields[7]
            if known is not None and utt not in known:
                raise DataFileError(f"{where}: utterance {utt!r} is not in the reference")
            try:
                start, dur = float(fields[3]), float(fields[4])
            except ValueError:
                raise DataFileError(
                    f"{where}: <tbeg> and <tdur> must be numbers, "
                    f"got {fields[3]!r} {fields[4]!r}"
                ) from None
            if not (math.isfinite(start) and math.isfinite(dur)) or start < 0 or dur < 0:
                raise DataFileError(
                    f"{where}: <tbeg> and <tdur> must be finite and >= 0, got {start} {dur}"
                )
            ann = out.get(utt)
            if ann is None:
                ann = out[utt] = Annotation(uri=utt)
            if dur > 0:
                ann[Segment(start, start + dur), f"L{lineno}"] = label
    return out


def write_rttm(path: Union[str, Path], annotations: Mapping[str, Annotation]) -> None:
    """Atomically write ``{utt: Annotation}`` as RTTM, utterances in sorted order.

    Lines come from :meth:`pyannote.core.Annotation.write_rttm`
    (``SPEAKER <utt> 1 <tbeg> <tdur> <NA> <NA> <label> <NA> <NA>``, 3 decimals).
    """
    with atomic_open(path) as f:
        for utt in sorted(annotations):
            ann = annotations[utt].copy()
            ann.uri = utt
            ann.write_rttm(f)


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

    Returns:
        The accumulated :class:`DERResult`.

    Raises:
        ValueError: a hypothesis utterance is not in ``references``, a duration is
            missing, or ``collar`` is negative.
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
) -> List[DERResult]:
    """:func:`compute_der` at each collar (md-eval convention), in the given order."""
    return [compute_der(references, hypotheses, durations, c) for c in collars]

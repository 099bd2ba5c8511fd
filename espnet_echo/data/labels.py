# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Time labels through the transforms of audio: cut (Kaldi ``segments``), resample, clip.

A label that refers to time is one of

* a **seconds turn** (standard ``rttm``, also a ``uem`` range): ``start``/``end`` in
  seconds, rate-independent;
* a **sample turn** (``espnet_rttm``): ``start``/``end`` in samples of a given rate,
  ``end`` the boundary (``start + duration``; see :mod:`espnet_echo.data.rttm`).

Every step that changes the audio changes every label with it, in the label's own unit:

=====================  ==================================  ============================
step                   seconds turn                        sample turn
=====================  ==================================  ============================
cut ``[b, b + L)``     ``t - b / R``, clipped to           ``s - b``, clipped to
(samples at rate R)    ``[0, L / R]``                      ``[0, L]``
resample R -> fs       unchanged                           ``rint(s * fs / R)``, clipped
                                                           to the new length
=====================  ==================================  ============================

A label missing in one unit is derived from the other only at the end, at the final
rate (``samples / fs`` or ``rint(seconds * fs)``), so it cannot mix rates.

Round trip (tested in ``test/espnet_echo/data/test_labels.py``): mapping the transformed
labels back (:func:`uncut_turns`, resampling by ``R / fs``) gives the originals, exactly
for seconds and for sample turns resampled up by an integer factor, and within half a
sample of the coarser rate otherwise; turns split at cut boundaries join again
(:func:`merge_turns`).
"""

from dataclasses import dataclass, replace
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from espnet_echo.utils.fileio import DataFileError

Number = Union[int, float]


@dataclass(frozen=True)
class Turn:
    """One labelled region.

    Attributes:
        spk: Speaker label (``""`` for a UEM range).
        start: Onset (seconds or samples, as the list it is in).
        end: Offset, the boundary (``>= start``).
        where: ``file:line`` the label came from, for messages.
    """

    spk: str
    start: Number
    end: Number
    where: str = ""

    @property
    def dur(self) -> Number:
        """``end - start``."""
        return self.end - self.start


@dataclass(frozen=True)
class AudioCut:
    """Where the audio of an utterance sits in its recording.

    Attributes:
        rate: Sample rate R of the recording (Hz).
        begin: First sample of the utterance in the recording (0 without ``segments``).
        length: Samples of the utterance at R.
        rec_length: Samples of the whole recording at R.
    """

    rate: int
    begin: int
    length: int
    rec_length: int

    @property
    def begin_s(self) -> float:
        """Onset of the utterance in the recording, seconds."""
        return self.begin / self.rate

    @property
    def end_s(self) -> float:
        """Offset of the utterance in the recording, seconds."""
        return (self.begin + self.length) / self.rate

    @classmethod
    def whole(cls, rate: int, length: int) -> "AudioCut":
        """The cut of an utterance that is its whole recording."""
        return cls(rate, 0, length, length)


def cut_turns(turns: Iterable[Turn], begin: Number, end: Number) -> List[Turn]:
    """The parts of ``turns`` inside ``[begin, end]``, shifted so that ``begin`` is 0.

    Works in either unit (give ``begin``/``end`` in the unit of the turns). A turn that
    only touches the window, or lies outside it, is dropped (zero-length rule of
    :mod:`espnet_echo.data.rttm`).
    """
    out = []
    for t in turns:
        start, stop = max(t.start, begin), min(t.end, end)
        if stop > start:
            out.append(replace(t, start=start - begin, end=stop - begin))
    return out


def uncut_turns(turns: Iterable[Turn], begin: Number) -> List[Turn]:
    """Inverse of :func:`cut_turns` for the turns it kept: shift by ``+begin``."""
    return [replace(t, start=t.start + begin, end=t.end + begin) for t in turns]


def resample_turns(
    turns: Iterable[Turn], src_fs: int, dst_fs: int, num_samples: Optional[int] = None
) -> List[Turn]:
    """Sample turns at ``src_fs`` mapped to ``dst_fs`` (``rint(s * dst_fs / src_fs)``).

    Args:
        turns: Sample turns at ``src_fs``.
        src_fs: Their rate.
        dst_fs: The new rate.
        num_samples: Length of the audio at ``dst_fs``; turn ends are clipped to it (the
            resampled length is ``ceil``, so only rounding can overrun it).

    Returns:
        The turns at ``dst_fs``; a turn that becomes empty is dropped.
    """
    out = []
    for t in turns:
        start = int(np.rint(t.start * dst_fs / src_fs))
        end = int(np.rint(t.end * dst_fs / src_fs))
        if num_samples is not None:
            start, end = min(start, num_samples), min(end, num_samples)
        if end > start:
            out.append(replace(t, start=start, end=end))
    return out


def seconds_of(turns: Iterable[Turn], fs: int) -> List[Turn]:
    """Sample turns at ``fs`` as seconds turns (``s / fs``)."""
    return [replace(t, start=t.start / fs, end=t.end / fs) for t in turns]


def samples_of(turns: Iterable[Turn], fs: int, num_samples: int) -> List[Turn]:
    """Seconds turns as sample turns at ``fs`` (``rint(t * fs)``, ESPnet's
    ``convert_rttm.py``), clipped to ``num_samples``; empty ones dropped."""
    out = []
    for t in turns:
        start = min(int(np.rint(t.start * fs)), num_samples)
        end = min(int(np.rint(t.end * fs)), num_samples)
        if end > start:
            out.append(replace(t, start=start, end=end))
    return out


def clip_turns(
    turns: Sequence[Turn], length: Number, tolerance: Number, what: str
) -> Tuple[List[Turn], List[Turn]]:
    """Check that no turn ends past ``length``; clip those within ``tolerance``.

    Args:
        turns: Turns (seconds or samples).
        length: End of the audio in the same unit.
        tolerance: How far past the end a turn may reach and be clipped.
        what: The audio, for the message (e.g. ``"rec1.wav (3.000 s)"``).

    Returns:
        ``(turns, clipped)``: the turns with ends clipped to ``length`` (empty ones
        dropped), and the original turns that were clipped (for a warning).

    Raises:
        DataFileError: a turn starts at or after the end plus tolerance, or ends past
            it; names the label's ``file:line``.
    """
    out, clipped = [], []
    for t in turns:
        if t.end > length + tolerance:
            raise DataFileError(
                f"{t.where}: turn {_num(t.start)}..{_num(t.end)} ends past the end of "
                f"{what} (by more than the tolerance {_num(tolerance)})"
            )
        if t.end > length:
            clipped.append(t)
            t = replace(t, end=length)
        if t.end > t.start:
            out.append(t)
    return out, clipped


def _num(x: Number) -> str:
    """A label time for a message (``0.15``, not ``0.15000000000000002``)."""
    return str(x) if isinstance(x, (int, np.integer)) else str(round(float(x), 6))


def merge_turns(
    turns: Iterable[Turn], gap: Number = 0
) -> Dict[str, List[Tuple[Number, Number]]]:
    """Union of the turns of each speaker: ``{spk: [(start, end), ...]}`` sorted.

    Turns closer than or equal to ``gap`` are joined (``gap=0`` joins touching ones).
    """
    by_spk: Dict[str, List[Tuple[Number, Number]]] = {}
    for t in sorted(turns, key=lambda t: (t.spk, t.start, t.end)):
        runs = by_spk.setdefault(t.spk, [])
        if runs and t.start <= runs[-1][1] + gap:
            runs[-1] = (runs[-1][0], max(runs[-1][1], t.end))
        else:
            runs.append((t.start, t.end))
    return by_spk


def speakers_of(turns: Iterable[Turn]) -> List[str]:
    """Speakers in order of first appearance."""
    return list(dict.fromkeys(t.spk for t in turns))


def to_annotation(turns: Iterable[Turn], uri: str = "", fs: Optional[int] = None):
    """A pyannote Annotation of seconds turns (or of sample turns at ``fs``)."""
    from pyannote.core import Annotation, Segment

    ann = Annotation(uri=uri)
    for i, t in enumerate(turns):
        start, end = (t.start, t.end) if fs is None else (t.start / fs, t.end / fs)
        ann[Segment(start, end), f"T{i}"] = t.spk
    return ann

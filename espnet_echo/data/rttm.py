# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""The one RTTM reader and writer of espnet-echo: seconds RTTM and ESPnet's sample RTTM.

Every tool that reads or writes an RTTM goes through this module (``metrics/der.py``
re-exports :func:`read_rttm` and :func:`write_rttm`; the data-dir reader, the format stage
and the simulator use the rest), so there is one rule for every corner of the format.

**Standard RTTM** (NIST RTTM v1.3, seconds), file ``rttm``::

    SPEAKER <file> <chnl> <tbeg> <tdur> <ortho> <stype> <name> <conf> [<slat>]

Reading rules (:func:`read_rttm_segments`, :func:`read_rttm`):

* blank lines and ``;;`` comment lines are skipped;
* lines of the other NIST RTTM types (``SPKR-INFO``, ``SEGMENT``, ``LEXEME``, ...,
  :data:`OTHER_RTTM_TYPES`) are legal and skipped: they hold no speaker turn;
* any other type is an error;
* a ``SPEAKER`` line has 9 or 10 fields (Kaldi writes 9); ``<tbeg>``/``<tdur>`` are finite
  numbers, ``<tbeg> >= 0`` and ``<tdur> >= 0``;
* a **zero-length turn** (``<tdur> == 0``) holds no speech: it is dropped (md-eval and
  pyannote score it as nothing). Its file still counts as listed, but its speaker counts
  as a speaker of the file only through turns of positive length.

Writing (:func:`format_rttm_line`): ``SPEAKER <file> <chnl> <tbeg> <tdur> <NA> <NA> <name>
<NA> <NA>`` with ``decimals`` decimals (reference labels written by this project use
:data:`~espnet_echo.data.contract.TIME_DECIMALS`, exact to the sample; hypotheses keep
pyannote's 3).

**ESPnet sample RTTM** (file ``espnet_rttm``, ESPnet data type ``rttm``, read by
:func:`espnet2.fileio.rttm.load_rttm_text`), 9 fields separated by single spaces::

    SPEAKER <utt> <chnl> <start> <end> <NA> <NA> <spk> <NA>
    END <utt> <NA> <NA> <num_samples> <NA> <NA> <NA> <NA>

``<end>`` is the end boundary ``start + duration`` in samples, as ESPnet's
``egs2/TEMPLATE/diar1/pyscripts/utils/convert_rttm.py`` writes it
(``start + rint(tdur * fs)``), so a turn covers ``tbeg = start / fs`` to
``end / fs`` seconds. (ESPnet's :class:`~espnet2.fileio.rttm.RttmReader` marks the frames
``start .. end`` inclusive, one sample more: that is its convention and is kept.) Every
utterance has one ``END`` line with its length in samples. A zero-length turn
(``end == start``) is dropped, as in the seconds RTTM.
"""

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    IO,
    TYPE_CHECKING,
    Collection,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import numpy as np

from espnet_echo.data.contract import TIME_DECIMALS
from espnet_echo.utils.fileio import DataFileError, atomic_open

if TYPE_CHECKING:  # pyannote is imported only by the functions that return Annotations
    from pyannote.core import Annotation

PathLike = Union[str, Path]

#: NIST RTTM types other than SPEAKER: legal in an RTTM file, skipped for diarization.
OTHER_RTTM_TYPES = frozenset(
    {
        "SEGMENT", "NOSCORE", "NO_RT_METADATA", "LEXEME", "NON-LEX", "NON-SPEECH",
        "FILLER", "EDITED", "IP", "SU", "CB", "A/P", "SPKR-INFO",
    }
)

_SPEAKER_FIELDS = "SPEAKER <file> <chnl> <tbeg> <tdur> <NA> <NA> <name> <NA> <NA>"
_ESPNET_FIELDS = (
    "SPEAKER <utt> <chnl> <start> <end> <NA> <NA> <spk> <NA> or "
    "END <utt> <NA> <NA> <num_samples> <NA> <NA> <NA> <NA>"
)


@dataclass
class RttmSegment:
    """One ``SPEAKER`` turn of a standard (seconds) RTTM file.

    Attributes:
        spk: Speaker label (``<name>``).
        start: Onset in seconds.
        dur: Duration in seconds (> 0: zero-length turns are dropped on reading).
        line: The line as written (whitespace normalised).
        lineno: 1-based line number in the file.
        utt: The ``<file>`` field.
        chan: The ``<chnl>`` field.
    """

    spk: str
    start: float
    dur: float
    line: str
    lineno: int
    utt: str = ""
    chan: str = "1"

    @property
    def end(self) -> float:
        """Offset in seconds."""
        return self.start + self.dur


@dataclass
class EspnetRttm:
    """The sample-level labels of one ``<utt>`` of an ``espnet_rttm`` file.

    Attributes:
        speakers: Speakers in order of first appearance (= ESPnet's label columns), only
            those with a turn of positive length.
        events: ``(speaker, start, end)`` in samples, ``end`` the boundary (see module
            docstring), file order, zero-length turns dropped.
        num_samples: Length from the ``END`` line.
        end_lineno: Line number of the ``END`` line.
        event_linenos: Line number of each event.
    """

    speakers: List[str]
    events: List[Tuple[str, int, int]]
    num_samples: int
    end_lineno: int
    event_linenos: List[int] = field(default_factory=list)


# ----------------------------------------------------------------------------------------
# Standard RTTM (seconds)
# ----------------------------------------------------------------------------------------
def _nist_records(path: PathLike) -> Iterator[Tuple[int, str, str, List[str]]]:
    """Records of a NIST text file (RTTM, UEM): blank lines and ``;;`` comments skipped.

    Yields:
        ``(lineno, where, line, fields)``: the 1-based line number, ``path:line`` for
        messages, the raw line and its fields.

    Raises:
        DataFileError: the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if fields and not fields[0].startswith(";;"):
                yield lineno, f"{path}:{lineno}", line, fields


def read_rttm_segments(
    path: PathLike,
    known_utts: Optional[Collection[str]] = None,
    known_what: str = "the reference",
) -> Dict[str, List[RttmSegment]]:
    """Read the ``SPEAKER`` turns of a standard RTTM file (rules: module docstring).

    Args:
        path: RTTM file.
        known_utts: If given, a line whose ``<file>`` is not in it is an error.
        known_what: How to name ``known_utts`` in that error.

    Returns:
        ``{file: [RttmSegment, ...]}`` in order of first appearance, turns in file order;
        a file whose turns all have zero length maps to ``[]``.

    Raises:
        DataFileError: missing file, wrong field count, unknown type, non-numeric,
            negative or non-finite time, or unknown ``<file>``; names ``path:line``.
    """
    known = None if known_utts is None else set(known_utts)
    out: Dict[str, List[RttmSegment]] = {}
    for lineno, where, line, fields in _nist_records(path):
        if fields[0] != "SPEAKER":
            if fields[0] in OTHER_RTTM_TYPES:
                continue
            raise DataFileError(
                f"{where}: unknown RTTM type {fields[0]!r}: {line.strip()!r}"
            )
        if len(fields) not in (9, 10):
            raise DataFileError(
                f"{where}: expected 10 fields '{_SPEAKER_FIELDS}', got {len(fields)}: "
                f"{line.strip()!r}"
            )
        utt, chan, label = fields[1], fields[2], fields[7]
        if known is not None and utt not in known:
            raise DataFileError(f"{where}: utterance {utt!r} is not in {known_what}")
        try:
            start, dur = float(fields[3]), float(fields[4])
        except ValueError:
            raise DataFileError(
                f"{where}: <tbeg> and <tdur> must be numbers (seconds), "
                f"got {fields[3]!r} {fields[4]!r}"
            ) from None
        if not (math.isfinite(start) and math.isfinite(dur)) or start < 0 or dur < 0:
            raise DataFileError(
                f"{where}: <tbeg> and <tdur> must be finite and >= 0, got {start} {dur}"
            )
        segs = out.setdefault(utt, [])
        if dur > 0:
            segs.append(
                RttmSegment(label, start, dur, " ".join(fields), lineno, utt, chan)
            )
    return out


def read_rttm(
    path: PathLike, known_utts: Optional[Collection[str]] = None
) -> Dict[str, "Annotation"]:
    """Read a standard RTTM file into one pyannote Annotation per ``<file>``.

    Same rules as :func:`read_rttm_segments` (``pyannote.database.util.load_rttm`` is not
    used: it cannot say which line is wrong).

    Args:
        path: RTTM file.
        known_utts: If given, a line whose ``<file>`` is not in it is an error.

    Returns:
        ``{utt: Annotation}`` in order of first appearance; track names are ``L<line>``.

    Raises:
        DataFileError: see :func:`read_rttm_segments`.
    """
    from pyannote.core import Annotation, Segment

    out = {}
    for utt, segs in read_rttm_segments(path, known_utts).items():
        ann = out[utt] = Annotation(uri=utt)
        for seg in segs:
            ann[Segment(seg.start, seg.end), f"L{seg.lineno}"] = seg.spk
    return out


def format_time(seconds: float, decimals: int = TIME_DECIMALS) -> str:
    """Seconds as written in RTTM/UEM files (``-0.0`` is written ``0.0...``)."""
    return f"{max(float(seconds), 0.0) + 0.0:.{decimals}f}"


def format_rttm_line(
    utt: str,
    start: float,
    dur: float,
    spk: str,
    chan: str = "1",
    decimals: int = TIME_DECIMALS,
) -> str:
    """One standard RTTM line ``SPEAKER <utt> <chan> <tbeg> <tdur> <NA> <NA> <spk> <NA> <NA>``.

    Args:
        utt: ``<file>`` field.
        start: Onset in seconds.
        dur: Duration in seconds.
        spk: Speaker label.
        chan: Channel field.
        decimals: Decimals of the times.
    """
    return (
        f"SPEAKER {utt} {chan} {format_time(start, decimals)} {format_time(dur, decimals)} "
        f"<NA> <NA> {spk} <NA> <NA>"
    )


def write_lines(path_or_file: Union[PathLike, IO[str]], lines: Iterable[str]) -> None:
    """Write ``lines`` (each + newline) atomically to a path, or to an open text file."""
    if hasattr(path_or_file, "write"):
        path_or_file.writelines(line + "\n" for line in lines)
        return
    with atomic_open(path_or_file) as f:
        f.writelines(line + "\n" for line in lines)


def write_rttm(
    path: PathLike, annotations: Mapping[str, "Annotation"], decimals: int = 3
) -> None:
    """Atomically write ``{utt: Annotation}`` as standard RTTM, utterances sorted.

    Turns are written in time order with :func:`format_rttm_line` (``decimals=3`` is
    pyannote's own precision, used for hypotheses). An empty Annotation writes no line.
    """
    lines = []
    for utt in sorted(annotations):
        for seg, _, label in annotations[utt].itertracks(yield_label=True):
            lines.append(format_rttm_line(utt, seg.start, seg.duration, label, "1", decimals))
    write_lines(path, lines)


# ----------------------------------------------------------------------------------------
# ESPnet sample-level RTTM
# ----------------------------------------------------------------------------------------
def read_espnet_rttm(
    path: PathLike,
    known_utts: Optional[Collection[str]] = None,
    known_what: str = "wav.scp",
) -> Dict[str, EspnetRttm]:
    """Read an ``espnet_rttm`` file with ESPnet's parser, checked line by line first.

    :func:`espnet2.fileio.rttm.load_rttm_text` only asserts (no line number, and it
    accepts an END line that a turn overruns), so every line is first checked with the
    same split rule (``re.split(" +")``): 9 fields, type ``SPEAKER``/``END``, integer
    samples, ``0 <= start <= end <= END``, exactly one ``END`` per ``<utt>``. Then ESPnet
    reads the file, so the result is what ESPnet's data loader will see (zero-length
    turns dropped, module docstring).

    Args:
        path: The ``espnet_rttm`` file.
        known_utts: If given, an ``<utt>`` outside it is an error.
        known_what: How to name ``known_utts`` in that error.

    Returns:
        ``{utt: EspnetRttm}`` in order of first appearance.

    Raises:
        DataFileError: the first bad line, naming ``path:line``.
    """
    from espnet2.fileio.rttm import load_rttm_text

    known = None if known_utts is None else set(known_utts)
    ends: Dict[str, Tuple[int, int]] = {}
    turn_lines: Dict[str, List[Tuple[int, int, int]]] = {}  # (lineno, start, end)
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            where = f"{path}:{lineno}"
            fields = re.split(" +", line.rstrip())
            if len(fields) != 9:
                raise DataFileError(
                    f"{where}: expected 9 space-separated fields ({_ESPNET_FIELDS}), got "
                    f"{len(fields)}: {line.rstrip()!r}"
                )
            kind, utt = fields[0], fields[1]
            if kind not in ("SPEAKER", "END"):
                raise DataFileError(f"{where}: type must be SPEAKER or END, got {kind!r}")
            if known is not None and utt not in known:
                raise DataFileError(f"{where}: utterance id {utt!r} is not in {known_what}")
            turn_lines.setdefault(utt, [])
            if kind == "END":
                try:
                    num_samples = int(fields[4])
                except ValueError:
                    num_samples = -1
                if num_samples <= 0:
                    raise DataFileError(
                        f"{where}: END needs the number of samples (an integer > 0) in "
                        f"field 5, got {fields[4]!r}"
                    )
                if utt in ends:
                    raise DataFileError(
                        f"{where}: second END line for {utt!r} (first on line {ends[utt][1]})"
                    )
                ends[utt] = (num_samples, lineno)
                continue
            start, end = _sample_index(fields[3]), _sample_index(fields[4])
            if start is None or end is None:
                raise DataFileError(
                    f"{where}: <start> and <end> must be integer sample indices, got "
                    f"{fields[3]!r} and {fields[4]!r}"
                )
            if start < 0 or end < start:
                raise DataFileError(f"{where}: need 0 <= start <= end, got {start} and {end}")
            turn_lines[utt].append((lineno, start, end))
    for utt, turns in turn_lines.items():
        if utt not in ends:
            raise DataFileError(f"{path}: utterance {utt!r} has no END line")
        num_samples, end_lineno = ends[utt]
        for lineno, _, end in turns:
            if end > num_samples:
                raise DataFileError(
                    f"{path}:{lineno}: turn ends at sample {end}, past the END of {utt!r} "
                    f"({num_samples} samples, line {end_lineno})"
                )
    try:
        parsed = load_rttm_text(path)
    except Exception as e:  # AssertionError / ValueError
        raise DataFileError(f"{path}: ESPnet cannot read it: {e or type(e).__name__}") from e
    out = {}
    for utt, (_, events, num_samples) in parsed.items():
        linenos = [lineno for lineno, _, _ in turn_lines[utt]]
        kept = [(ev, ln) for ev, ln in zip(events, linenos) if ev[2] > ev[1]]
        out[utt] = EspnetRttm(
            speakers=list(dict.fromkeys(ev[0] for ev, _ in kept)),
            events=[(str(s), int(a), int(b)) for (s, a, b), _ in kept],
            num_samples=int(num_samples),
            end_lineno=ends[utt][1],
            event_linenos=[ln for _, ln in kept],
        )
    return out


def _sample_index(text: str) -> Optional[int]:
    """An integer sample index (``"12"`` or ESPnet's accepted ``"12.0"``), else None."""
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value) or value != int(value):
        return None
    return int(value)


def format_espnet_rttm_lines(
    utt: str, events: Sequence[Tuple[str, int, int]], num_samples: int
) -> List[str]:
    """``espnet_rttm`` lines of one utterance: its turns in the given order, then ``END``.

    Args:
        utt: Utterance id.
        events: ``(speaker, start, end)`` in samples, ``end`` the boundary. ESPnet's label
            columns follow the first appearance of each speaker, so give them in the
            column order wanted (e.g. grouped by source).
        num_samples: Length of the utterance.

    Raises:
        ValueError: a turn outside ``[0, num_samples]`` or with ``end < start``.
    """
    lines = []
    for spk, start, end in events:
        if not 0 <= start <= end <= num_samples:
            raise ValueError(
                f"{utt}: turn {start}..{end} of {spk!r} is not inside [0, {num_samples}]"
            )
        lines.append(f"SPEAKER {utt} 1 {int(start)} {int(end)} <NA> <NA> {spk} <NA>")
    lines.append(f"END {utt} <NA> <NA> {int(num_samples)} <NA> <NA> <NA> <NA>")
    return lines


# ----------------------------------------------------------------------------------------
# Units
# ----------------------------------------------------------------------------------------
def seconds_to_samples(seconds: float, fs: int) -> int:
    """Sample index of a time, ``rint(seconds * fs)`` (as ESPnet's ``convert_rttm.py``)."""
    return int(np.rint(seconds * fs))


def samples_to_seconds(samples: int, fs: int) -> float:
    """Time of a sample boundary, ``samples / fs``."""
    return samples / fs


# ----------------------------------------------------------------------------------------
# NIST UEM (the scored regions)
# ----------------------------------------------------------------------------------------
@dataclass
class UemRange:
    """One line of a NIST UEM file ``<file> <chnl> <tbeg> <tend>`` (seconds).

    Attributes:
        utt: The ``<file>`` field.
        chan: The ``<chnl>`` field.
        start: Onset in seconds.
        end: Offset in seconds (> start).
        lineno: 1-based line number.
    """

    utt: str
    chan: str
    start: float
    end: float
    lineno: int


def read_uem(path: PathLike) -> Dict[str, List[UemRange]]:
    """Read a NIST UEM file (md-eval, dscore): ``<file> <chnl> <tbeg> <tend>`` per line.

    Blank lines and ``;;`` comments are skipped; a file may have several ranges.

    Returns:
        ``{file: [UemRange, ...]}`` in order of first appearance.

    Raises:
        DataFileError: missing file, wrong field count, non-numeric, negative or
            non-finite time, or ``tend <= tbeg``; names ``path:line``.
    """
    out: Dict[str, List[UemRange]] = {}
    for lineno, where, line, fields in _nist_records(path):
        if len(fields) != 4:
            raise DataFileError(
                f"{where}: expected 4 fields '<file> <chnl> <tbeg> <tend>', got "
                f"{len(fields)}: {line.strip()!r}"
            )
        try:
            start, end = float(fields[2]), float(fields[3])
        except ValueError:
            raise DataFileError(
                f"{where}: <tbeg> and <tend> must be numbers (seconds), got "
                f"{fields[2]!r} {fields[3]!r}"
            ) from None
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
            raise DataFileError(
                f"{where}: need finite 0 <= <tbeg> < <tend>, got {start} {end}"
            )
        out.setdefault(fields[0], []).append(
            UemRange(fields[0], fields[1], start, end, lineno)
        )
    return out


def format_uem_line(
    utt: str, start: float, end: float, chan: str = "1", decimals: int = TIME_DECIMALS
) -> str:
    """One UEM line ``<utt> <chan> <tbeg> <tend>``."""
    return f"{utt} {chan} {format_time(start, decimals)} {format_time(end, decimals)}"

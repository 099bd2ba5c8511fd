# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""One recording's result, coherent per speaker, and its writers (RTTM, WAV, SegLST, STM).

Speaker ``k`` of an :class:`EchoResult` is one person in every output: the turns
labelled ``k``, the separated track ``k`` and the words of ``k``. The slots of the
separation and ASR heads are matched to the diarization speakers before a result is
built (:mod:`espnet_echo.inference.attribution`); nothing here reorders speakers.

Formats (one writer each):

* **RTTM** (NIST): ``SPEAKER <rec> 1 <tbeg> <tdur> <NA> <NA> <spk> <NA> <NA>``,
  written by :func:`espnet_echo.data.rttm.format_rttm_line`.
* **SegLST** (meeteval's JSON: a list of segments with ``session_id``, ``speaker``,
  ``start_time``, ``end_time``, ``words``): one segment per speaker turn that holds
  words (a word belongs to the turn of its speaker that contains its midpoint, else to
  the nearest one), plus ``words_detail``: the words with their own times. A speaker's
  segments in time order joined by spaces are exactly that speaker's transcript, so
  cpWER computed from the SegLST is the cpWER of the per-speaker texts.
* **STM** (NIST sclite): ``<rec> 1 <spk> <tbeg> <tend> <words>``, the same segments.
* **WAV**: ``<rec>_<spk>.wav``, 16-bit PCM at the model's rate, one per speaker.

Speaker labels are ``spk<k>`` (``k`` from 0, in the order of first turn).
"""

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import soundfile

from espnet_echo.data.rttm import format_rttm_line, write_lines
from espnet_echo.utils.fileio import atomic_open, atomic_path

PathLike = Union[str, Path]
#: A speaker turn ``(start_s, end_s, speaker_index)``.
Turn = Tuple[float, float, int]


@dataclass(frozen=True)
class Word:
    """One recognised word of one speaker.

    Attributes:
        text: The word.
        start: Onset in seconds (recording time).
        end: Offset in seconds, ``>= start``.
    """

    text: str
    start: float
    end: float


def speaker_label(k: int) -> str:
    """The label of speaker ``k`` in every output (``spk0``, ``spk1``, ...)."""
    return f"spk{k}"


@dataclass
class EchoResult:
    """What :class:`~espnet_echo.inference.speech2echo.Speech2Echo` returns for one
    recording.

    Attributes:
        num_spk: Estimated number of speakers K̂.
        segments: Speaker turns ``(start_s, end_s, k)``, ``k < K̂``, sorted.
        sources: Separated tracks (K̂, N) at ``fs``, row ``k`` speaker ``k``; None
            without a separation head, or when the tracks were written to
            ``source_files`` (long recordings).
        texts: Transcript of each speaker (K̂ strings, ``""`` for a speaker the ASR
            head gave no words), or None without an ASR head.
        words: Words of each speaker with times (K̂ lists), or None without an ASR
            head.
        exclusive_segments: Turns with at most one speaker at a time (in overlap, the
            speaker with the higher score), or None without diarization.
        source_files: Per-speaker WAV files of a long recording's stitched tracks
            (K̂ paths, temporary until :meth:`write` moves them), or None.
        name: Recording id (RTTM ``<file>``, SegLST ``session_id``).
        duration: Recording length in seconds.
        fs: Sample rate of the tracks.
    """

    num_spk: int
    segments: List[Turn] = field(default_factory=list)
    sources: Optional[np.ndarray] = None
    texts: Optional[List[str]] = None
    words: Optional[List[List[Word]]] = None
    exclusive_segments: Optional[List[Turn]] = None
    source_files: Optional[List[Path]] = None
    name: str = "input"
    duration: float = 0.0
    fs: int = 16000

    # ------------------------------------------------------------------ views
    def annotation(self, exclusive: bool = False):
        """The turns as a ``pyannote.core.Annotation`` (labels ``spk<k>``).

        Args:
            exclusive: The non-overlapping turns (:attr:`exclusive_segments`).

        Raises:
            ValueError: ``exclusive`` without exclusive segments.
        """
        from pyannote.core import Annotation, Segment

        turns = self.segments
        if exclusive:
            if self.exclusive_segments is None:
                raise ValueError(f"{self.name}: no exclusive diarization in this result")
            turns = self.exclusive_segments
        ann = Annotation(uri=self.name)
        for i, (start, end, k) in enumerate(turns):
            ann[Segment(start, end), i] = speaker_label(k)
        return ann

    def speaker_turns(self, k: int) -> List[Tuple[float, float]]:
        """Turns of speaker ``k`` in time order."""
        return [(s, e) for s, e, spk in self.segments if spk == k]

    # --------------------------------------------------------------- formats
    def to_rttm(self, decimals: int = 3) -> List[str]:
        """RTTM lines of the turns, in time order."""
        return [
            format_rttm_line(self.name, s, e - s, speaker_label(k), "1", decimals)
            for s, e, k in sorted(self.segments)
        ]

    def transcript_segments(self) -> List[Tuple[float, float, int, List[Word]]]:
        """The words of each speaker grouped into that speaker's turns (rule: module
        docstring), as ``(start_s, end_s, k, words)`` sorted by start then speaker.

        A segment's times span its turn and its words. A speaker with words but no
        turn gets one segment spanning its words.
        """
        if self.words is None:
            return []
        out = []
        for k, words in enumerate(self.words):
            if not words:
                continue
            turns = self.speaker_turns(k)
            groups: Dict[int, List[Word]] = {}
            for w in words:
                groups.setdefault(_turn_of(turns, (w.start + w.end) / 2), []).append(w)
            for t, ws in groups.items():
                start, end = (turns[t] if t >= 0 else (ws[0].start, ws[-1].end))
                out.append((min(start, ws[0].start), max(end, ws[-1].end), k, ws))
        out.sort(key=lambda x: (x[0], x[2]))
        return out

    def to_seglst(self) -> List[Dict]:
        """SegLST segments (meeteval's format; see the module docstring)."""
        return [
            dict(
                session_id=self.name,
                speaker=speaker_label(k),
                start_time=round(start, 3),
                end_time=round(end, 3),
                words=" ".join(w.text for w in ws),
                words_detail=[
                    dict(word=w.text, start_time=round(w.start, 3),
                         end_time=round(w.end, 3))
                    for w in ws
                ],
            )
            for start, end, k, ws in self.transcript_segments()
        ]

    def to_stm(self) -> List[str]:
        """STM lines ``<rec> 1 <spk> <tbeg> <tend> <words>`` of the transcript segments."""
        return [
            f"{self.name} 1 {speaker_label(k)} {start:.3f} {end:.3f} "
            + " ".join(w.text for w in ws)
            for start, end, k, ws in self.transcript_segments()
        ]

    # ---------------------------------------------------------------- writers
    def write(self, out_dir: PathLike, formats: Sequence[str] = ("rttm", "wav", "seglst",
                                                                  "stm", "txt")) -> List[Path]:
        """Write the result into ``out_dir`` (created), each file atomically.

        Files: ``<name>.rttm``, ``<name>.exclusive.rttm`` (when available),
        ``<name>_spk<k>.wav``, ``<name>.seglst.json``, ``<name>.stm`` and
        ``<name>.txt`` (``spk<k>: <transcript>`` per speaker). Formats a result has no
        data for (no sources, no words) are skipped.

        Args:
            out_dir: Output directory.
            formats: Any of ``rttm``, ``wav``, ``seglst``, ``stm``, ``txt``.

        Returns:
            The files written.

        Raises:
            ValueError: an unknown format.
        """
        unknown = set(formats) - set(FORMATS)
        if unknown:
            raise ValueError(f"unknown output format(s) {sorted(unknown)}; known {FORMATS}")
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        if "rttm" in formats:
            written.append(out / f"{self.name}.rttm")
            write_lines(written[-1], self.to_rttm())
            if self.exclusive_segments is not None:
                excl = EchoResult(self.num_spk, segments=self.exclusive_segments,
                                  name=self.name)
                written.append(out / f"{self.name}.exclusive.rttm")
                write_lines(written[-1], excl.to_rttm())
        if "wav" in formats:
            written += self._write_tracks(out)
        if self.words is not None:
            if "seglst" in formats:
                written.append(out / f"{self.name}.seglst.json")
                with atomic_open(written[-1]) as f:
                    json.dump(self.to_seglst(), f, indent=1, ensure_ascii=False)
                    f.write("\n")
            if "stm" in formats:
                written.append(out / f"{self.name}.stm")
                write_lines(written[-1], self.to_stm())
        if self.texts is not None and "txt" in formats:
            written.append(out / f"{self.name}.txt")
            write_lines(written[-1], [f"{speaker_label(k)}: {t}"
                                      for k, t in enumerate(self.texts)])
        return written

    def _write_tracks(self, out: Path) -> List[Path]:
        written = []
        if self.sources is not None:
            for k, track in enumerate(self.sources):
                path = out / f"{self.name}_{speaker_label(k)}.wav"
                with atomic_path(path) as tmp:
                    soundfile.write(tmp, np.clip(track, -1.0, 1.0), self.fs,
                                    subtype="PCM_16", format="WAV")
                written.append(path)
        elif self.source_files is not None:
            for k, src in enumerate(self.source_files):
                path = out / f"{self.name}_{speaker_label(k)}.wav"
                with atomic_path(path) as tmp:
                    shutil.move(str(src), tmp)
                written.append(path)
            self.source_files = written
        return written


#: Output formats of :meth:`EchoResult.write`.
FORMATS = ("rttm", "wav", "seglst", "stm", "txt")


def _turn_of(turns: List[Tuple[float, float]], t: float) -> int:
    """Index of the turn containing time ``t``, else of the nearest turn; -1 if none."""
    if not turns:
        return -1
    dist = [0.0 if s <= t <= e else min(abs(t - s), abs(t - e)) for s, e in turns]
    return int(np.argmin(dist))

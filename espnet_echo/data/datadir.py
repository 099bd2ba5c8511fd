# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""The one reader of data dirs: the espnet-echo contract plus the Kaldi/ESPnet conventions.

:func:`load_data_dir` reads and validates the text files of a data dir (the audio is not
opened); :meth:`DataDir.read_audio` gives the audio of an utterance (cut by ``segments``,
resampled on request), :meth:`DataDir.check_audio_lengths` checks every stated length
against it, and :meth:`DataDir.labels` gives its time labels in utterance time at the
audio's rate. Every tool that reads a data dir (format, score, inference, probes, GMM
fitting) is meant to go through these, so that all of them accept and refuse the same
dirs. Every problem raises one :class:`~espnet_echo.utils.fileio.DataFileError` (text) or
:class:`~espnet_echo.utils.audio.AudioError` (audio) whose message names ``file:line``.

Conventions (also in ``docs/CONTRACT.md``, table "Kaldi/ESPnet conventions"):

* ``wav.scp``, ``spk{n}.scp``, ``noise.scp``: one audio entry per key, the rest of the
  line (paths with spaces, ``cmd |`` pipes, ``file.ark:offset``; see
  :mod:`espnet_echo.data.scp` for what is refused).
* ``segments`` (``<utt> <rec> <start_s> <end_s>``, ``end -1`` = to the end): the audio
  scps are keyed by recording and cut as ESPnet cuts them (``omniio.kaldi``/kaldiio
  ``slice_segment``: samples ``int(start * rate)`` to ``int(end * rate)``); every
  per-utterance file is keyed by the segment ids (a key that is a recording id is
  refused, naming ``segments``); ``rttm``/``espnet_rttm``/``uem`` are keyed either all by
  utterance (utterance time) or all by recording (recording time, cut with the audio).
* ``reco2file_and_channel`` (``<rec> <file> <chan>``): maps the ``<file> <chnl>`` of
  ``rttm``/``uem`` lines to recordings.
* ``utt2num_samples``, ``utt2dur``, ``reco2dur``, the ``END`` lines: checked against the
  audio (:meth:`DataDir.check_audio_lengths`).
* ``utt2spk``/``spk2utt``: must be each other's inverse; ``text`` is the transcript of
  speaker 1 when there is no ``text_spk{n}`` (one-speaker utterances only).
* ``reco2num_spk``: the speaker count of a recording (= ``utt2num_spk`` without
  ``segments``; an upper bound of its utterances' counts with ``segments``).
* ``feats.scp``, ``cmvn.scp``, ``utt2num_frames``, ``vad.scp``, ``frame_shift``, ``ctm``,
  ``stm``, ``glm``, ``spk2gender``, ``utt2lang``, ``utt2uniq``, ``utt2category``: not
  used and not carried into a dump (listed in :attr:`DataDir.notes`); a dir with
  ``feats.scp`` but no ``wav.scp`` is refused.
"""

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from espnet_echo.data.contract import (
    DURATION_TOLERANCE_S,
    MAX_SPK,
    SEGMENT_MAX_OVERSHOOT_S,
    TIME_TOLERANCE_S,
)
from espnet_echo.data.labels import (
    AudioCut,
    Turn,
    clip_turns,
    cut_turns,
    resample_turns,
    samples_of,
    seconds_of,
    speakers_of,
)
from espnet_echo.data.rttm import (
    EspnetRttm,
    RttmSegment,
    UemRange,
    read_espnet_rttm,
    read_rttm_segments,
    read_uem,
)
from espnet_echo.data.scp import entry_kind, read_entry
from espnet_echo.utils.audio import conform_audio
from espnet_echo.utils.fileio import DataFileError, read_kaldi_map

PathLike = Union[str, Path]

__all__ = [
    "DataDir", "EspnetRttm", "RttmSegment", "Segment", "UttLabels", "load_data_dir",
    "cut_recording", "indexed_files", "SPK_SCP", "TEXT_SPK",
]

#: Names of the numbered per-speaker files (data, dump and hypothesis dirs).
SPK_SCP = re.compile(r"^spk(\d+)\.scp$")
TEXT_SPK = re.compile(r"^text_spk(\d+)$")

#: Kaldi/ESPnet files that are not used (nothing in them is needed, or they describe
#: features the model recomputes) and are not carried into a dump.
NOT_CARRIED = {
    "feats.scp": "features (EchoTask computes its frontend from the waveform)",
    "cmvn.scp": "feature normalisation statistics",
    "utt2num_frames": "feature frame counts",
    "vad.scp": "frame-level VAD decisions of feats.scp",
    "frame_shift": "feature frame shift",
    "ctm": "word times (no word-time labels in the contract)",
    "stm": "sclite reference (the transcripts are text_spk{n})",
    "glm": "sclite mapping",
    "spk2gender": "speaker metadata",
    "utt2lang": "utterance metadata",
    "utt2uniq": "speed-perturbation origins",
    "utt2category": "utterance metadata",
    "spk_ids": "training-speaker indices of a dump (make_spk_ids writes them after format)",
    "utt2overlap": "overlapped share of speech (simulator conversations)",
}


#: Every file this reader uses (besides ``spk{n}.scp`` and ``text_spk{n}``).
READ = frozenset(
    {
        "wav.scp", "segments", "reco2file_and_channel", "noise.scp", "speech_ref.scp",
        "text", "utt2spk", "spk2utt", "utt2spks", "utt2num_spk", "reco2num_spk",
        "utt2num_samples", "utt2dur", "reco2dur", "rttm", "espnet_rttm", "uem",
    }
)


@dataclass
class Segment:
    """One line of a Kaldi ``segments`` file.

    Attributes:
        utt: Utterance (segment) id.
        rec: Recording id (a key of ``wav.scp``).
        start: Onset in the recording, seconds.
        end: Offset in seconds, or ``-1`` for the end of the recording (Kaldi).
        lineno: Line number.
    """

    utt: str
    rec: str
    start: float
    end: float
    lineno: int


@dataclass
class UttLabels:
    """The time labels of one utterance, in utterance time at rate ``fs``.

    Attributes:
        fs: Rate of the sample labels.
        num_samples: Length of the utterance at ``fs``.
        speakers: Speakers in source order (``utt2spks``, else first appearance).
        seconds: Seconds turns (from ``rttm``, else derived from ``espnet_rttm``); None
            without diarization labels.
        samples: Sample turns at ``fs`` (from ``espnet_rttm``, else derived from
            ``rttm``); None without diarization labels.
        uem: Scored ranges in seconds, None without ``uem``.
        clipped: Labels that reached past the audio by less than the tolerance and were
            clipped (for a warning).
    """

    fs: int
    num_samples: int
    speakers: List[str]
    seconds: Optional[List[Turn]] = None
    samples: Optional[List[Turn]] = None
    uem: Optional[List[Turn]] = None
    clipped: List[Turn] = field(default_factory=list)


@dataclass
class DataDir:
    """A validated data dir; per-utterance mappings are keyed by utterance id.

    Attributes:
        path: The directory.
        wav: ``{utt: wav.scp entry of its audio}``; with ``segments`` the entry of its
            recording (read the audio with :meth:`read_audio`, which cuts it). Defines the
            utterance set.
        spk: ``{n: {key: entry}}`` from ``spk{n}.scp`` (keys: recording ids, which are
            the utterance ids without ``segments``).
        text: ``{n: {utt: transcript}}`` from ``text_spk{n}`` (or ``text`` as speaker 1).
        noise: ``noise.scp`` (keyed like ``spk``) or None.
        utt2spk: ``utt2spk`` or None.
        spk2utt: ``spk2utt`` (``{spk: [utt, ...]}``) or None.
        utt2spks: ``utt2spks`` (``{utt: [spkid, ...]}``) or None.
        utt2num_spk: ``utt2num_spk`` or None.
        utt2num_samples: ``utt2num_samples`` or None.
        rttm: Standard RTTM turns ``{key: [RttmSegment]}`` or None (keys per
            ``rttm_level``).
        espnet_rttm: Sample-level RTTM ``{key: EspnetRttm}`` or None (keys per
            ``espnet_rttm_level``).
        num_spk: Number of speakers K per utterance as far as it is known (from
            ``utt2num_spk``, else ``spk{n}.scp``, ``text_spk{n}``, ``utt2spks``,
            ``reco2num_spk``, utterance-level RTTMs).
        lines: ``{file name: {key: line number}}`` for error messages.
        recordings: ``wav.scp`` as written, ``{rec: entry}``.
        segments: ``{utt: Segment}`` from ``segments``, or None.
        rttm_level: ``"utt"`` (keys are utterances, utterance time) or ``"rec"`` (keys are
            recordings, recording time; only with ``segments``).
        espnet_rttm_level: The same for ``espnet_rttm``.
        uem: ``{key: [UemRange]}`` from ``uem`` or None.
        uem_level: The same for ``uem``.
        utt2dur: ``utt2dur`` (seconds) or None.
        reco2dur: ``reco2dur`` (seconds) or None.
        reco2num_spk: ``reco2num_spk`` or None.
        reco2file_and_channel: ``{rec: (file, chan)}`` or None.
        notes: Files present but not used (logged by the format stage).
        text_file: Name pattern of the transcript files (``"text"`` when the single
            Kaldi ``text`` is used as speaker 1).
        source_file: Name pattern of the source files (``"speech_ref.scp"`` in a
            ``format_data`` dump, whose one line holds all sources of a mixture).
    """

    path: Path
    wav: Dict[str, str]
    spk: Dict[int, Dict[str, str]] = field(default_factory=dict)
    text: Dict[int, Dict[str, str]] = field(default_factory=dict)
    noise: Optional[Dict[str, str]] = None
    utt2spk: Optional[Dict[str, str]] = None
    spk2utt: Optional[Dict[str, List[str]]] = None
    utt2spks: Optional[Dict[str, List[str]]] = None
    utt2num_spk: Optional[Dict[str, int]] = None
    utt2num_samples: Optional[Dict[str, int]] = None
    rttm: Optional[Dict[str, List[RttmSegment]]] = None
    espnet_rttm: Optional[Dict[str, EspnetRttm]] = None
    num_spk: Dict[str, int] = field(default_factory=dict)
    lines: Dict[str, Dict[str, int]] = field(default_factory=dict)
    recordings: Dict[str, str] = field(default_factory=dict)
    segments: Optional[Dict[str, Segment]] = None
    rttm_level: str = "utt"
    espnet_rttm_level: str = "utt"
    uem: Optional[Dict[str, List[UemRange]]] = None
    uem_level: str = "utt"
    utt2dur: Optional[Dict[str, float]] = None
    reco2dur: Optional[Dict[str, float]] = None
    reco2num_spk: Optional[Dict[str, int]] = None
    reco2file_and_channel: Optional[Dict[str, Tuple[str, str]]] = None
    notes: List[str] = field(default_factory=list)
    text_file: str = "text_spk{}"
    source_file: str = "spk{}.scp"
    _last: Optional[Tuple[str, np.ndarray, int]] = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def utts(self) -> List[str]:
        """Utterance ids in sorted (Kaldi) order."""
        return sorted(self.wav)

    def rec_of(self, utt: str) -> str:
        """Recording id of an utterance (itself without ``segments``)."""
        return self.segments[utt].rec if self.segments is not None else utt

    def where(self, name: str, key: str) -> str:
        """``path/name:line`` of ``key`` in file ``name`` (or ``path/name`` if unknown)."""
        lineno = self.lines.get(name, {}).get(key)
        return f"{self.path / name}:{lineno}" if lineno else str(self.path / name)

    def where_audio(self, name: str, utt: str) -> str:
        """``file:line`` of the audio entry of ``utt`` in an audio scp (by recording)."""
        return self.where(name, self.rec_of(utt))

    def num_spk_source(self, utt: str) -> str:
        """``file:line`` that defines K of ``utt`` (for error messages)."""
        if self.utt2num_spk is not None and utt in self.utt2num_spk:
            return self.where("utt2num_spk", utt)
        for group, files in ((self.source_file, self.spk), (self.text_file, self.text)):
            for n in sorted(files, reverse=True):
                key = self.rec_of(utt) if files is self.spk else utt
                if key in files[n]:
                    return self.where(group.format(n), key)
        if self.utt2spks is not None and utt in self.utt2spks:
            return self.where("utt2spks", utt)
        if self.reco2num_spk is not None and self.segments is None:
            return self.where("reco2num_spk", utt)
        for name in ("espnet_rttm", "rttm"):
            if self.lines.get(name, {}).get(utt):
                return self.where(name, utt)
        return self.where("utt2spks", utt)

    def sources(self, utt: str) -> List[str]:
        """Source entries ``spk1..spkK`` of ``utt`` (empty if there are no ``spk*.scp``).

        With ``segments`` these are the entries of its recording: read them with
        :meth:`read_audio`.
        """
        key = self.rec_of(utt)
        return [self.spk[n][key] for n in sorted(self.spk) if key in self.spk[n]]

    def texts(self, utt: str) -> List[str]:
        """The K transcripts of ``utt`` in speaker order (empty without transcripts).

        A ``format_data`` dump lists every utterance in every ``text_spk{n}`` (``<utt>``
        alone for n > K); those are cut off at K.
        """
        listed = [self.text[n][utt] for n in sorted(self.text) if utt in self.text[n]]
        k = self.num_spk.get(utt)
        return listed[:k] if k is not None else listed

    def audio_entry(self, utt: str, which: Union[str, int] = "mix") -> Tuple[str, str]:
        """``(entry, file:line)`` of the mixture (``"mix"``), source n or ``"noise"``."""
        rec = self.rec_of(utt)
        if which == "mix":
            return self.recordings[rec], self.where("wav.scp", rec)
        if which == "noise":
            if self.noise is None or rec not in self.noise:
                raise DataFileError(f"{self.path / 'noise.scp'}: no entry for {rec!r}")
            return self.noise[rec], self.where("noise.scp", rec)
        n = int(which)
        if n not in self.spk or rec not in self.spk[n]:
            name = self.source_file.format(n)
            raise DataFileError(f"{self.path / name}: no source {n} for {rec!r}")
        return self.spk[n][rec], self.where(self.source_file.format(n), rec)

    def read_audio(
        self,
        utt: str,
        which: Union[str, int] = "mix",
        fs: Optional[int] = None,
        resample: bool = False,
        allow_silent: bool = True,
    ) -> Tuple[np.ndarray, AudioCut]:
        """The audio of one utterance: decoded, cut by ``segments``, brought to ``fs``.

        Args:
            utt: Utterance id.
            which: ``"mix"`` (``wav.scp``), ``n`` (``spk{n}.scp``) or ``"noise"``.
            fs: Required rate (None: keep the file's rate).
            resample: Resample another rate to ``fs`` (with a warning) instead of failing.
            allow_silent: If False, an all-zero signal is an error.

        Returns:
            ``(wav, cut)``: float32 ``(T,)`` at ``fs`` (or the file's rate), and where it
            sits in its recording at the recording's own rate (for :meth:`labels`). With
            ``segments`` the last recording read is kept, so reading the utterances of a
            recording in a row decodes it once.

        Raises:
            DataFileError: a refused entry form or a segment outside its recording.
            AudioError: unreadable or bad audio; names the scp line and the file.
        """
        entry, where = self.audio_entry(utt, which)
        seg = self.segments[utt] if self.segments is not None else None
        if seg is not None and self._last is not None and self._last[0] == entry:
            wav, rate = self._last[1], self._last[2]  # utterances of one recording in a row
        else:
            wav, rate = read_entry(entry, where)
            if seg is not None:
                self._last = (entry, wav, rate)
        seg_where = self.where("segments", utt) if seg is not None else ""
        wav, cut, _ = cut_recording(wav, rate, seg, seg_where, f"{where}: {entry}")
        if fs is not None:
            wav = conform_audio(wav, rate, f"{where}: {entry}", fs, resample, allow_silent)
        elif not allow_silent:
            wav = conform_audio(wav, rate, f"{where}: {entry}", rate, False, False)
        return wav, cut

    def check_audio_lengths(self, utt: str, cut: AudioCut) -> None:
        """Check every length the text files state for ``utt`` against its audio.

        ``utt2num_samples`` (exact, at the audio's own rate), ``utt2dur`` and ``reco2dur``
        (within ``DURATION_TOLERANCE_S``) and the ``END`` line of ``espnet_rttm`` (exact,
        of the utterance or, for recording-level labels, of the recording).

        Raises:
            DataFileError: naming the file and line that disagree with the audio.
        """
        entry, where = self.audio_entry(utt)
        audio = f"{where} ({entry}: {cut.length} samples at {cut.rate} Hz"
        audio += f", cut by {self.where('segments', utt)})" if self.segments else ")"
        if self.utt2num_samples is not None and utt in self.utt2num_samples:
            if self.utt2num_samples[utt] != cut.length:
                raise DataFileError(
                    f"{self.where('utt2num_samples', utt)}: says "
                    f"{self.utt2num_samples[utt]} samples but the audio of {utt!r} has "
                    f"{cut.length}: {audio}"
                )
        checks = [("utt2dur", self.utt2dur, utt, cut.length)]
        checks.append(("reco2dur", self.reco2dur, self.rec_of(utt), cut.rec_length))
        for name, table, key, n in checks:
            if table is not None and key in table:
                if abs(table[key] - n / cut.rate) > DURATION_TOLERANCE_S:
                    raise DataFileError(
                        f"{self.where(name, key)}: says {table[key]} s but the audio has "
                        f"{n / cut.rate:.6f} s ({n} samples at {cut.rate} Hz): {audio}"
                    )
        if self.espnet_rttm is not None:
            rec_level = self.espnet_rttm_level == "rec"
            key, n = (self.rec_of(utt), cut.rec_length) if rec_level else (utt, cut.length)
            entry_ = self.espnet_rttm.get(key)
            if entry_ is not None and entry_.num_samples != n:
                raise DataFileError(
                    f"{self.path / 'espnet_rttm'}:{entry_.end_lineno}: END of {key!r} says "
                    f"{entry_.num_samples} samples but the "
                    f"{'recording' if rec_level else 'audio'} has {n} at {cut.rate} Hz: "
                    f"{audio}"
                )

    def labels(self, utt: str, cut: AudioCut, fs: int, num_samples: int) -> UttLabels:
        """The time labels of ``utt`` carried through its cut and resampling.

        Recording-level labels are cut with the audio; sample labels are resampled from
        ``cut.rate`` to ``fs`` (:mod:`espnet_echo.data.labels` gives the rules); a seconds
        label past the end by less than ``TIME_TOLERANCE_S`` is clipped (returned in
        ``clipped``); the speakers are checked against ``utt2spks`` and K.

        Args:
            utt: Utterance id.
            cut: Where its audio sits in the recording (from :meth:`read_audio`).
            fs: Rate of the audio the labels are for.
            num_samples: Length of that audio at ``fs``.

        Returns:
            :class:`UttLabels`.

        Raises:
            DataFileError: a label past the audio, a length that disagrees, an unknown
                speaker or a wrong speaker count; names file and line.
        """
        out = UttLabels(fs=fs, num_samples=num_samples, speakers=[])
        self.check_audio_lengths(utt, cut)
        rec = self.rec_of(utt)
        what_utt = f"the audio of {utt!r} ({round(cut.length / cut.rate, 6)} s)"
        what_rec = f"recording {rec!r} ({round(cut.rec_length / cut.rate, 6)} s)"
        if self.rttm is not None:
            rec_level = self.rttm_level == "rec"
            segs = self.rttm.get(rec if rec_level else utt, [])
            turns = [
                Turn(s.spk, s.start, s.end, f"{self.path / 'rttm'}:{s.lineno}") for s in segs
            ]
            length = (cut.rec_length if rec_level else cut.length) / cut.rate
            turns, clipped = clip_turns(
                turns, length, TIME_TOLERANCE_S, what_rec if rec_level else what_utt
            )
            out.clipped += clipped
            out.seconds = cut_turns(turns, cut.begin_s, cut.end_s) if rec_level else turns
        if self.espnet_rttm is not None:
            rec_level = self.espnet_rttm_level == "rec"
            entry = self.espnet_rttm[rec if rec_level else utt]
            where = f"{self.path / 'espnet_rttm'}"
            turns = [
                Turn(s, a, b, f"{where}:{ln}")
                for (s, a, b), ln in zip(entry.events, entry.event_linenos)
            ]
            if rec_level:
                turns = cut_turns(turns, cut.begin, cut.begin + cut.length)
            if cut.rate != fs:
                turns = resample_turns(turns, cut.rate, fs, num_samples)
            out.samples = turns
        if self.uem is not None:
            rec_level = self.uem_level == "rec"
            ranges = self.uem.get(rec if rec_level else utt, [])
            turns = [
                Turn("", r.start, r.end, f"{self.path / 'uem'}:{r.lineno}") for r in ranges
            ]
            length = (cut.rec_length if rec_level else cut.length) / cut.rate
            turns, clipped = clip_turns(
                turns, length, TIME_TOLERANCE_S, what_rec if rec_level else what_utt
            )
            out.clipped += clipped
            out.uem = cut_turns(turns, cut.begin_s, cut.end_s) if rec_level else turns
        if out.seconds is None and out.samples is not None:
            out.seconds = seconds_of(out.samples, fs)
        if out.samples is None and out.seconds is not None:
            out.samples = samples_of(out.seconds, fs, num_samples)
        if out.samples is not None:
            self._check_label_speakers(utt, out)
        return out

    def _check_label_speakers(self, utt: str, out: UttLabels) -> None:
        """Speakers of the labels: those of ``utt2spks``, K of them, the same in both units.

        Sets ``out.speakers`` (source order) and, if no file gave it, K of ``utt``.
        """
        units = [("rttm", out.seconds), ("espnet_rttm", out.samples)]
        if self.espnet_rttm is not None:  # the source of the column order comes first
            units.reverse()
        known = self.utt2spks.get(utt) if self.utt2spks is not None else None
        k = self.num_spk.get(utt)
        found = []
        for name, turns in units:
            source = getattr(self, name) is not None
            speakers = speakers_of(turns)
            if known is not None:
                for t in turns:
                    if t.spk not in known:
                        raise DataFileError(
                            f"{t.where}: speaker {t.spk!r} of {utt!r} is not in "
                            f"{self.where('utt2spks', utt)} ({' '.join(known)})"
                        )
            if source and k is not None and len(speakers) != k:
                level = getattr(self, f"{name}_level")
                cut = f" within {self.where('segments', utt)}" if level == "rec" else ""
                raise DataFileError(
                    f"{self.path / name}: utterance {utt!r} has {len(speakers)} speakers "
                    f"{speakers}{cut} but {self.num_spk_source(utt)} gives K={k} (every "
                    "source needs a turn)"
                )
            found.append((name, speakers))
        (name_a, spk_a), (name_b, spk_b) = found
        if set(spk_a) != set(spk_b):
            raise DataFileError(
                f"{self.path / name_a} gives speakers {spk_a} for {utt!r} but its "
                f"{name_b} at {out.fs} Hz has {spk_b} (a turn shorter than half a sample, "
                "or the two files disagree)"
            )
        if not spk_a:
            raise DataFileError(
                f"{self.path / name_a}: utterance {utt!r} has no speaker turn, and no file "
                "gives its number of speakers"
            )
        out.speakers = list(known) if known is not None else list(spk_a)
        if k is None:
            self.num_spk[utt] = len(out.speakers)

    def check_complete(self) -> None:
        """Check that every file present covers every utterance.

        ``spk{n}.scp``/``text_spk{n}`` need not list an utterance with K < n; the
        number of speakers must be known (or, with recording-level RTTMs, come from the
        labels after cutting).

        Raises:
            DataFileError: naming the file that lacks an utterance.
        """
        by_utt = {
            "utt2spk": self.utt2spk,
            "utt2spks": self.utt2spks,
            "utt2num_spk": self.utt2num_spk,
            "utt2num_samples": self.utt2num_samples,
            "utt2dur": self.utt2dur,
            self.text_file.format(1): self.text.get(1) if self.text else None,
        }
        by_rec = {
            "noise.scp": self.noise,
            self.source_file.format(1): self.spk.get(1) if self.spk else None,
            "reco2dur": self.reco2dur,
            "reco2num_spk": self.reco2num_spk,
        }
        for name, level in (
            ("rttm", self.rttm_level),
            ("espnet_rttm", self.espnet_rttm_level),
            ("uem", self.uem_level),
        ):
            (by_rec if level == "rec" else by_utt)[name] = getattr(self, name)
        labels_later = any(
            getattr(self, n) is not None and getattr(self, f"{n}_level") == "rec"
            for n in ("rttm", "espnet_rttm")
        )
        for utt in self.utts:
            for files, key in ((by_utt, utt), (by_rec, self.rec_of(utt))):
                for name, mapping in files.items():
                    if mapping is not None and key not in mapping:
                        kind = "utterance" if key == utt else "recording"
                        raise DataFileError(
                            f"{self.path / name}: {kind} {key!r} of "
                            f"{self.where_audio('wav.scp', utt)} is missing"
                        )
            if utt not in self.num_spk and not labels_later:
                raise DataFileError(
                    f"{self.where_audio('wav.scp', utt)}: cannot tell the number of speakers "
                    f"of {utt!r}: no utt2num_spk, spk{{n}}.scp, text_spk{{n}}, utt2spks or "
                    "rttm/espnet_rttm lists it"
                )


# ----------------------------------------------------------------------------------------
# Cutting (Kaldi segments, as ESPnet does it)
# ----------------------------------------------------------------------------------------
def cut_recording(
    wav: np.ndarray,
    rate: int,
    segment: Optional[Segment],
    segment_where: str,
    audio_name: str,
) -> Tuple[np.ndarray, AudioCut, Optional[str]]:
    """Cut one utterance out of its recording the way ESPnet does.

    ESPnet's ``format_wav_scp.py`` reads ``wav.scp`` with ``segments`` through kaldiio
    (here ESPnet's :mod:`omniio.kaldi`), whose ``slice_segment`` takes samples
    ``int(start * rate)`` to ``int(end * rate)`` (``end == -1``: to the end); that
    function does the cut here. A segment ending past the recording by up to
    ``SEGMENT_MAX_OVERSHOOT_S`` (Kaldi ``extract-segments --max-overshoot``) is cut at the
    end (the note says so); further, or starting at/after the end, is an error.

    Args:
        wav: The recording, ``(T,)``.
        rate: Its rate.
        segment: The segment, or None for the whole recording.
        segment_where: ``segments:line`` for messages.
        audio_name: The recording, for messages.

    Returns:
        ``(cut wav, AudioCut, note or None)``.

    Raises:
        DataFileError: a segment outside its recording.
    """
    n = len(wav)
    if segment is None:
        return wav, AudioCut.whole(rate, n), None
    from omniio.kaldi import slice_segment  # ESPnet's kaldiio

    dur = n / rate
    begin = int(segment.start * rate)
    if begin >= n:
        raise DataFileError(
            f"{segment_where}: segment {segment.utt!r} starts at {segment.start} s, at or "
            f"past the end of its recording {audio_name} ({dur:.6f} s)"
        )
    note = None
    if segment.end >= 0 and int(segment.end * rate) > n:
        overshoot = segment.end - dur
        if overshoot > SEGMENT_MAX_OVERSHOOT_S:
            raise DataFileError(
                f"{segment_where}: segment {segment.utt!r} ends at {segment.end} s, "
                f"{overshoot:.3f} s past the end of its recording {audio_name} "
                f"({dur:.6f} s; at most {SEGMENT_MAX_OVERSHOOT_S} s is cut at the end, as "
                "Kaldi's extract-segments --max-overshoot)"
            )
        note = (
            f"{segment_where}: segment {segment.utt!r} ends {overshoot:.3f} s past the end "
            f"of {audio_name} ({dur:.6f} s); cut at the end"
        )
    _, out = slice_segment((rate, wav), segment.start, segment.end)
    return out, AudioCut(rate, begin, len(out), n), note


# ----------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------
def _key_error(ddir: DataDir, name: str, key: str, per: str) -> DataFileError:
    """The message for a key of ``name`` that is not an utterance/recording id."""
    where = ddir.where(name, key)
    if ddir.segments is None:
        return DataFileError(
            f"{where}: utterance id {key!r} is not in {ddir.path / 'wav.scp'}"
        )
    seg = ddir.path / "segments"
    if per == "utt" and key in ddir.recordings:
        return DataFileError(
            f"{where}: {key!r} is a recording id of {ddir.path / 'wav.scp'}, but {seg} cuts "
            f"the recordings into utterances, so {name} must be keyed by the utterance ids "
            f"of {seg} (Kaldi convention: only wav.scp, the audio scps and reco2* files are "
            "keyed by recording)"
        )
    if per == "rec" and key in ddir.wav:
        return DataFileError(
            f"{where}: {key!r} is an utterance id of {seg}, but with a segments file {name} "
            f"lists recordings (keys of {ddir.path / 'wav.scp'}), cut by {seg} as ESPnet's "
            "enh.sh/asr.sh cut every audio scp"
        )
    what = "utterance id of" if per == "utt" else "recording id of"
    src = seg if per == "utt" else ddir.path / "wav.scp"
    return DataFileError(f"{where}: {key!r} is not an {what} {src}")


def _read(
    ddir: DataDir,
    name: str,
    num_fields: Optional[int] = 1,
    allow_empty: bool = False,
    per: str = "utt",
) -> Optional[Dict[str, str]]:
    """Read ``name`` if present, check its keys and record line numbers.

    ``read_kaldi_map`` rejects empty lines and duplicate keys, so the n-th key sits on
    line n. ``per``: ``"utt"`` (keys are utterance ids), ``"rec"`` (recording ids) or
    ``None`` (no check).
    """
    path = ddir.path / name
    if not path.exists():
        return None
    mapping = read_kaldi_map(path, num_fields=num_fields, allow_empty_value=allow_empty)
    ddir.lines[name] = {k: i for i, k in enumerate(mapping, 1)}
    if per is not None:
        known = ddir.wav if per == "utt" else ddir.recordings
        for key in mapping:
            if key not in known:
                raise _key_error(ddir, name, key, per)
    return mapping


def _read_audio_scp(ddir: DataDir, name: str) -> Optional[Dict[str, str]]:
    """An audio scp keyed by recording; entries are the rest of the line."""
    mapping = _read(ddir, name, num_fields=None, per="rec")
    if mapping is not None:
        for key, value in mapping.items():
            entry_kind(value, ddir.where(name, key))
    return mapping


def _read_speech_ref(ddir: DataDir, num_spk_max: int) -> None:
    """``speech_ref.scp`` of a ``format_data`` dump: ``<utt> <spk1> ... <spkK>``.

    ESPnet's ``variable_columns_sound`` splits the line on whitespace, so here an entry
    is one field (no spaces, no pipes). Only without ``spk{n}.scp``.
    """
    ref = _read(ddir, "speech_ref.scp", num_fields=None, per="rec")
    if ref is None:
        return
    if ddir.spk:
        raise DataFileError(
            f"{ddir.path / 'speech_ref.scp'}: a dir lists its sources in spk{{n}}.scp or in "
            "speech_ref.scp (format_data dump), not in both"
        )
    ddir.source_file = "speech_ref.scp"
    for key, value in ref.items():
        where = ddir.where("speech_ref.scp", key)
        entries = value.split()
        if len(entries) > num_spk_max:
            raise DataFileError(
                f"{where}: {len(entries)} sources, more than num_spk_max={num_spk_max}"
            )
        for n, entry in enumerate(entries, 1):
            if entry_kind(entry, where) == "pipe":
                raise DataFileError(
                    f"{where}: a pipe cannot be one column of speech_ref.scp "
                    "(variable_columns_sound splits on whitespace)"
                )
            ddir.spk.setdefault(n, {})[key] = entry


def _to_int(
    ddir: DataDir, name: str, mapping: Dict[str, str], lo: int, hi: int
) -> Dict[str, int]:
    out = {}
    for key, value in mapping.items():
        try:
            number = int(value)
        except ValueError:
            raise DataFileError(
                f"{ddir.where(name, key)}: expected an integer, got {value!r}"
            ) from None
        if not lo <= number <= hi:
            raise DataFileError(
                f"{ddir.where(name, key)}: value {number} out of range [{lo}, {hi}]"
            )
        out[key] = number
    return out


def _to_seconds(ddir: DataDir, name: str, mapping: Dict[str, str]) -> Dict[str, float]:
    out = {}
    for key, value in mapping.items():
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not (math.isfinite(number) and number > 0):
            raise DataFileError(
                f"{ddir.where(name, key)}: expected a duration in seconds (> 0), got "
                f"{value!r}"
            )
        out[key] = number
    return out


def indexed_files(
    directory: PathLike, pattern: re.Pattern, num_spk_max: int = MAX_SPK
) -> Dict[int, Path]:
    """The numbered per-speaker files of a dir: ``{n: path}`` sorted by n.

    The one rule for ``spk{n}.scp``/``text_spk{n}`` names (data dirs, dumps and
    hypothesis dirs): n is written without leading zeros and lies in 1..num_spk_max.

    Args:
        directory: The dir.
        pattern: :data:`SPK_SCP` or :data:`TEXT_SPK`.
        num_spk_max: Largest allowed n.

    Returns:
        ``{n: path}``, empty when there is none (or no dir).

    Raises:
        DataFileError: an index out of range or with leading zeros, naming the file.
    """
    directory = Path(directory)
    found = {}
    if not directory.is_dir():
        return found
    for p in sorted(directory.iterdir()):
        m = pattern.match(p.name)
        if m is None or not p.is_file():
            continue
        n = int(m.group(1))
        if not 1 <= n <= num_spk_max or m.group(1) != str(n):
            raise DataFileError(
                f"{p}: speaker index must be 1..{num_spk_max} (num_spk_max), "
                f"got {m.group(1)!r}"
            )
        found[n] = p
    return dict(sorted(found.items()))


def _check_group(ddir: DataDir, fmt: str, files: Dict[int, Dict[str, str]]) -> Dict[str, int]:
    """Check that ``fmt.format(n)`` lists each utt exactly for n = 1..K; return K per utt."""
    if not files:
        return {}
    top = max(files)
    audio = files is ddir.spk
    counts = {}
    for utt in ddir.wav:
        key = ddir.rec_of(utt) if audio else utt
        k = ddir.utt2num_spk.get(utt) if ddir.utt2num_spk is not None else None
        listed = [n for n in range(1, top + 1) if key in files.get(n, {})]
        if not audio and k is not None:  # format_data dump: "<utt>" alone for n > K
            listed = [n for n in listed if n <= k or files[n][key]]
        if not listed:
            k_group = 0
        else:
            k_group = max(listed)
            for n in range(1, k_group):
                if key not in files.get(n, {}):
                    raise DataFileError(
                        f"{ddir.where(fmt.format(k_group), key)}: utterance {key!r} is "
                        f"listed as speaker {k_group} but missing from "
                        f"{ddir.path / fmt.format(n)} (speaker n is listed for every "
                        f"mixture with K >= n)"
                    )
        if k is None:
            if k_group:
                counts[utt] = k_group
            continue
        seg = (
            f" (its recording {key!r}: with segments every utterance has all the sources of "
            "its recording)"
            if audio and ddir.segments is not None
            else ""
        )
        if k_group > k:
            raise DataFileError(
                f"{ddir.where(fmt.format(k_group), key)}: utterance {utt!r} has K={k} "
                f"speakers ({ddir.where('utt2num_spk', utt)}) but is listed as speaker "
                f"{k_group}{seg}"
            )
        if k_group < k:
            if "{}" not in fmt:  # speech_ref.scp: all sources on one line
                raise DataFileError(
                    f"{ddir.where(fmt, key)}: utterance {utt!r} has {k_group} sources but "
                    f"{ddir.where('utt2num_spk', utt)} says K={k}"
                )
            raise DataFileError(
                f"{ddir.path / fmt.format(k_group + 1)}: utterance {utt!r} is missing; "
                f"{ddir.where('utt2num_spk', utt)} says K={k}, so "
                f"{fmt.format(1)}..{fmt.format(k)} must list it{seg}"
            )
        counts[utt] = k_group
    return counts


def _read_segments(ddir: DataDir) -> Optional[Dict[str, Segment]]:
    """Kaldi ``segments``: ``<utt> <rec> <start_s> <end_s>`` (``end_s`` -1: to the end)."""
    path = ddir.path / "segments"
    if not path.exists():
        return None
    out: Dict[str, Segment] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            where = f"{path}:{lineno}"
            fields = line.split()
            if len(fields) != 4:
                raise DataFileError(
                    f"{where}: expected 4 fields '<utt> <rec> <start_s> <end_s>' (Kaldi "
                    f"segments), got {len(fields)}: {line.rstrip()!r}"
                )
            utt, rec = fields[0], fields[1]
            try:
                start, end = float(fields[2]), float(fields[3])
            except ValueError:
                raise DataFileError(
                    f"{where}: start and end must be numbers (seconds), got {fields[2]!r} "
                    f"and {fields[3]!r}"
                ) from None
            if not (math.isfinite(start) and math.isfinite(end)) or start < 0:
                raise DataFileError(f"{where}: need a finite start >= 0, got {start}")
            if end != -1 and end <= start:
                raise DataFileError(
                    f"{where}: end {end} must be after start {start} (or -1 for the end of "
                    "the recording)"
                )
            if utt in out:
                raise DataFileError(
                    f"{where}: duplicate utterance id {utt!r} (first on line "
                    f"{out[utt].lineno})"
                )
            if rec not in ddir.recordings:
                raise DataFileError(
                    f"{where}: recording {rec!r} of segment {utt!r} is not in "
                    f"{ddir.path / 'wav.scp'}"
                )
            out[utt] = Segment(utt, rec, start, end, lineno)
    if not out:
        raise DataFileError(f"{path}: no segments")
    return out


def _resolve_keys(
    ddir: DataDir, name: str, rows: List[Tuple[str, Optional[str], int]]
) -> Tuple[str, Dict[int, str]]:
    """Decide what the ``<file>`` ids of a label file are, and map each line to a key.

    All utterance ids: ``"utt"``. Otherwise every line must name a recording, directly
    or through ``reco2file_and_channel`` (``<file> <chnl>``; not for ``espnet_rttm``,
    which ESPnet keys by the ``wav.scp`` key): ``"rec"`` (without ``segments`` a recording
    is an utterance, so that is ``"utt"`` with mapped keys).
    """
    path = ddir.path / name
    if all(f in ddir.wav for f, _, _ in rows):
        return "utt", {ln: f for f, _, ln in rows}
    r2fc = {}
    if ddir.reco2file_and_channel is not None and name != "espnet_rttm":
        r2fc = {v: rec for rec, v in ddir.reco2file_and_channel.items()}
    if ddir.segments is None and not r2fc:
        f, _, ln = next(r for r in rows if r[0] not in ddir.wav)
        raise DataFileError(
            f"{path}:{ln}: utterance id {f!r} is not in {ddir.path / 'wav.scp'}"
        )
    out = {}
    for f, chan, ln in rows:
        if (f, chan) in r2fc:
            out[ln] = r2fc[(f, chan)]
        elif f in ddir.recordings:
            out[ln] = f
        else:
            also = (
                f" nor a '<file> <chnl>' ({f} {chan}) of "
                f"{ddir.path / 'reco2file_and_channel'}"
                if r2fc
                else ""
            )
            kind = (
                f"an utterance id of {ddir.path / 'segments'}, but other lines use recording "
                "ids (one file uses one kind)"
                if f in ddir.wav
                else f"neither an utterance id nor a recording id of {ddir.path / 'wav.scp'}"
                + also
            )
            raise DataFileError(f"{path}:{ln}: {f!r} is {kind}")
    return ("rec" if ddir.segments is not None else "utt"), out


def _read_label_files(ddir: DataDir) -> None:
    """``rttm``, ``espnet_rttm`` and ``uem``, keyed by utterance or by recording."""
    path = ddir.path / "rttm"
    if path.exists():
        table = read_rttm_segments(path)
        rows = [(s.utt, s.chan, s.lineno) for segs in table.values() for s in segs]
        level, keys = _resolve_keys(ddir, "rttm", rows)
        ddir.rttm, ddir.rttm_level = {}, level
        ddir.lines["rttm"] = {}
        for f, segs in table.items():
            if not segs:  # only zero-length turns: the file id must be a key itself
                if f not in (ddir.wav if level == "utt" else ddir.recordings):
                    raise _key_error(ddir, "rttm", f, level)
                ddir.rttm.setdefault(f, [])
            for seg in segs:
                key = keys[seg.lineno]
                ddir.rttm.setdefault(key, []).append(seg)
                ddir.lines["rttm"].setdefault(key, seg.lineno)
    path = ddir.path / "espnet_rttm"
    if path.exists():
        table = read_espnet_rttm(path)
        rows = [(u, None, e.end_lineno) for u, e in table.items()]
        level, keys = _resolve_keys(ddir, "espnet_rttm", rows)
        ddir.espnet_rttm = {keys[e.end_lineno]: e for e in table.values()}
        ddir.espnet_rttm_level = level
        ddir.lines["espnet_rttm"] = {
            k: min([e.end_lineno, *e.event_linenos]) for k, e in ddir.espnet_rttm.items()
        }
    path = ddir.path / "uem"
    if path.exists():
        table = read_uem(path)
        rows = [(r.utt, r.chan, r.lineno) for rs in table.values() for r in rs]
        level, keys = _resolve_keys(ddir, "uem", rows)
        ddir.uem, ddir.uem_level = {}, level
        ddir.lines["uem"] = {}
        for rs in table.values():
            for r in rs:
                ddir.uem.setdefault(keys[r.lineno], []).append(r)
                ddir.lines["uem"].setdefault(keys[r.lineno], r.lineno)


def load_data_dir(path: PathLike, num_spk_max: int = MAX_SPK) -> DataDir:
    """Read and validate a data dir (contract files plus the Kaldi/ESPnet conventions).

    ``wav.scp`` is required; everything else is optional (module docstring). Checked:
    column counts, keys (utterance ids, or recording ids for the audio scps and
    ``reco2*`` files), entry forms, integer and duration fields, that
    ``spk{n}.scp``/``text_spk{n}`` list an utterance exactly for n = 1..K, that
    ``utt2spks`` has K ids, that ``utt2spk``/``spk2utt`` agree, that ``segments`` lie in
    known recordings, and that the RTTMs are well formed, list the speakers of
    ``utt2spks`` (K of them, for utterance-level RTTMs) and agree with ``utt2num_samples``.
    The audio is not opened (:meth:`DataDir.read_audio`, :meth:`DataDir.labels`).

    Args:
        path: The data dir.
        num_spk_max: Largest allowed number of speakers per mixture.

    Returns:
        The parsed :class:`DataDir`.

    Raises:
        DataFileError: the first problem, naming ``file:line``.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataFileError(f"{path}: data dir not found")
    if not (path / "wav.scp").exists() and (path / "feats.scp").exists():
        raise DataFileError(
            f"{path / 'wav.scp'}: file not found, and {path / 'feats.scp'} alone is not "
            "supported (features are not waveforms: EchoTask needs wav.scp)"
        )
    recordings = read_kaldi_map(path / "wav.scp", num_fields=None)
    if not recordings:
        raise DataFileError(f"{path / 'wav.scp'}: no utterances")
    ddir = DataDir(path=path, wav={}, recordings=recordings)
    ddir.lines["wav.scp"] = {k: i for i, k in enumerate(recordings, 1)}
    for rec, value in recordings.items():
        entry_kind(value, ddir.where("wav.scp", rec))
    ddir.segments = _read_segments(ddir)
    if ddir.segments is not None:
        ddir.wav = {u: recordings[s.rec] for u, s in ddir.segments.items()}
        ddir.lines["segments"] = {u: s.lineno for u, s in ddir.segments.items()}
        unused = [r for r in recordings if r not in {s.rec for s in ddir.segments.values()}]
        if unused:
            ddir.notes.append(
                f"{path / 'wav.scp'}: {len(unused)} recordings have no segment in "
                f"{path / 'segments'} and are not used (first: {unused[0]!r})"
            )
    else:
        ddir.wav = dict(recordings)
    r2fc = _read(ddir, "reco2file_and_channel", num_fields=2, per="rec")
    if r2fc is not None:
        ddir.reco2file_and_channel = {}
        seen: Dict[Tuple[str, str], str] = {}
        for rec, value in r2fc.items():
            file_chan = tuple(value.split())
            if file_chan in seen:
                raise DataFileError(
                    f"{ddir.where('reco2file_and_channel', rec)}: '{value}' already names "
                    f"recording {seen[file_chan]!r}"
                )
            seen[file_chan] = rec
            ddir.reco2file_and_channel[rec] = file_chan

    for n in indexed_files(path, SPK_SCP, num_spk_max):
        ddir.spk[n] = _read_audio_scp(ddir, f"spk{n}.scp")
    for n in indexed_files(path, TEXT_SPK, num_spk_max):
        ddir.text[n] = _read(ddir, f"text_spk{n}", num_fields=None, allow_empty=True)
    ddir.noise = _read_audio_scp(ddir, "noise.scp")
    _read_speech_ref(ddir, num_spk_max)
    text = _read(ddir, "text", num_fields=None, allow_empty=True)
    if text is not None:
        if ddir.text:
            ddir.notes.append(
                f"{path / 'text'}: not used (text_spk1..{max(ddir.text)} hold the "
                "per-speaker transcripts)"
            )
        else:
            ddir.text, ddir.text_file = {1: text}, "text"
    ddir.utt2spk = _read(ddir, "utt2spk")
    spk2utt = _read(ddir, "spk2utt", num_fields=None, per=None)
    if spk2utt is not None:
        ddir.spk2utt = {s: v.split() for s, v in spk2utt.items()}
        _check_spk2utt(ddir)
    utt2spks = _read(ddir, "utt2spks", num_fields=None)
    if utt2spks is not None:
        ddir.utt2spks = {u: v.split() for u, v in utt2spks.items()}
        for utt, spks in ddir.utt2spks.items():
            if len(set(spks)) != len(spks):
                raise DataFileError(
                    f"{ddir.where('utt2spks', utt)}: a speaker id is repeated: {spks}"
                )
    utt2num_spk = _read(ddir, "utt2num_spk")
    if utt2num_spk is not None:
        ddir.utt2num_spk = _to_int(ddir, "utt2num_spk", utt2num_spk, 1, num_spk_max)
    reco2num_spk = _read(ddir, "reco2num_spk", per="rec")
    if reco2num_spk is not None:
        ddir.reco2num_spk = _to_int(ddir, "reco2num_spk", reco2num_spk, 1, num_spk_max)
    utt2num_samples = _read(ddir, "utt2num_samples")
    if utt2num_samples is not None:
        ddir.utt2num_samples = _to_int(
            ddir, "utt2num_samples", utt2num_samples, 1, 2**63 - 1
        )
    utt2dur = _read(ddir, "utt2dur")
    if utt2dur is not None:
        ddir.utt2dur = _to_seconds(ddir, "utt2dur", utt2dur)
    reco2dur = _read(ddir, "reco2dur", per="rec")
    if reco2dur is not None:
        ddir.reco2dur = _to_seconds(ddir, "reco2dur", reco2dur)
    for name, what in NOT_CARRIED.items():
        if (path / name).exists():
            ddir.notes.append(f"{path / name}: not used and not carried ({what})")
    for p in sorted(path.iterdir()):
        known = p.name in READ or SPK_SCP.match(p.name) or TEXT_SPK.match(p.name)
        if p.is_file() and not p.name.startswith(".") and not known:
            if p.name not in NOT_CARRIED:
                ddir.notes.append(f"{p}: not a file of the contract or of Kaldi/ESPnet data "
                                  "dirs known here; not used")

    _count_speakers(ddir, num_spk_max)
    _read_label_files(ddir)
    _check_rttm_speakers(ddir)
    return ddir


def _check_spk2utt(ddir: DataDir) -> None:
    """``spk2utt`` lists known utterances and is the inverse of ``utt2spk``."""
    for spk, utts in ddir.spk2utt.items():
        for utt in utts:
            if utt not in ddir.wav:
                raise DataFileError(
                    f"{ddir.where('spk2utt', spk)}: utterance id {utt!r} is not in "
                    f"{ddir.path / ('segments' if ddir.segments else 'wav.scp')}"
                )
            if ddir.utt2spk is not None and ddir.utt2spk.get(utt) != spk:
                raise DataFileError(
                    f"{ddir.where('spk2utt', spk)}: lists {utt!r} under speaker {spk!r} but "
                    f"{ddir.where('utt2spk', utt)} gives {ddir.utt2spk.get(utt)!r} (spk2utt "
                    "must be the inverse of utt2spk: utils/utt2spk_to_spk2utt.pl)"
                )
    if ddir.utt2spk is not None:
        listed = {u for utts in ddir.spk2utt.values() for u in utts}
        for utt, spk in ddir.utt2spk.items():
            if utt not in listed:
                raise DataFileError(
                    f"{ddir.where('utt2spk', utt)}: {utt!r} (speaker {spk!r}) is not in "
                    f"{ddir.path / 'spk2utt'} (spk2utt must be the inverse of utt2spk)"
                )


def _count_speakers(ddir: DataDir, num_spk_max: int) -> None:
    """K per utterance: utt2num_spk wins; the other files must agree with it and each other."""
    k_spk = _check_group(ddir, ddir.source_file, ddir.spk)
    if ddir.text_file == "text":  # Kaldi's single transcript: one-speaker utterances only
        for utt in ddir.text[1]:
            k = ddir.utt2num_spk.get(utt) if ddir.utt2num_spk is not None else None
            k = k or k_spk.get(utt) or len((ddir.utt2spks or {}).get(utt, ()))
            if k > 1:
                raise DataFileError(
                    f"{ddir.where('text', utt)}: utterance {utt!r} has K={k} speakers "
                    f"({ddir.num_spk_source(utt)}) but a single 'text' file holds one "
                    f"transcript per utterance; give text_spk1..text_spk{k}"
                )
    k_text = _check_group(ddir, ddir.text_file, ddir.text)
    ddir.num_spk = dict(ddir.utt2num_spk or {})
    for utt in ddir.wav:
        if utt in ddir.num_spk:
            continue
        if utt in k_spk and utt in k_text and k_spk[utt] != k_text[utt]:
            text_file = ddir.text_file.format(k_text[utt])
            raise DataFileError(
                f"{ddir.where(text_file, utt)}: utterance {utt!r} has "
                f"{k_text[utt]} transcripts but {k_spk[utt]} sources "
                f"({ddir.where_audio(ddir.source_file.format(k_spk[utt]), utt)})"
            )
        k = k_spk.get(utt) or k_text.get(utt)
        if k:
            ddir.num_spk[utt] = k
    if ddir.utt2spks is not None:
        for utt, spks in ddir.utt2spks.items():
            if utt not in ddir.num_spk:
                if len(spks) > num_spk_max:
                    raise DataFileError(
                        f"{ddir.where('utt2spks', utt)}: {len(spks)} speakers, more than "
                        f"num_spk_max={num_spk_max}"
                    )
                ddir.num_spk[utt] = len(spks)
            elif len(spks) != ddir.num_spk[utt]:
                raise DataFileError(
                    f"{ddir.where('utt2spks', utt)}: {len(spks)} speaker ids but "
                    f"{ddir.num_spk_source(utt)} gives K={ddir.num_spk[utt]}"
                )
    if ddir.reco2num_spk is not None:
        for utt in ddir.wav:
            rec = ddir.rec_of(utt)
            if rec not in ddir.reco2num_spk:
                continue
            k_rec = ddir.reco2num_spk[rec]
            k = ddir.num_spk.get(utt)
            if ddir.segments is None:
                if k is None:
                    ddir.num_spk[utt] = k_rec
                elif k != k_rec:
                    raise DataFileError(
                        f"{ddir.where('reco2num_spk', rec)}: says {k_rec} speakers but "
                        f"{ddir.num_spk_source(utt)} gives K={k}"
                    )
            elif k is not None and k > k_rec:
                raise DataFileError(
                    f"{ddir.num_spk_source(utt)}: utterance {utt!r} has K={k} speakers, more "
                    f"than its recording {rec!r} ({ddir.where('reco2num_spk', rec)}: {k_rec})"
                )


def _check_rttm_speakers(ddir: DataDir) -> None:
    """Utterance-level RTTMs: speakers of utt2spks, K of them, END vs utt2num_samples.

    K of an utterance no other file gives comes from these labels (``espnet_rttm``
    first). Recording-level RTTMs are checked after the cut (:meth:`DataDir.labels`).
    """
    tables = []
    if ddir.espnet_rttm is not None and ddir.espnet_rttm_level == "utt":
        tables.append(("espnet_rttm", ddir.espnet_rttm))
    if ddir.rttm is not None and ddir.rttm_level == "utt":
        tables.append(("rttm", ddir.rttm))
    for name, table in tables:
        for utt, entry in table.items():
            if name == "rttm":
                speakers = list(dict.fromkeys(seg.spk for seg in entry))
                lines = [seg.lineno for seg in entry]
                spk_of = [seg.spk for seg in entry]
            else:
                speakers = entry.speakers
                lines = entry.event_linenos
                spk_of = [ev[0] for ev in entry.events]
            where = ddir.where(name, utt)
            if ddir.utt2spks is not None and utt in ddir.utt2spks:
                for spk, lineno in zip(spk_of, lines):
                    if spk not in ddir.utt2spks[utt]:
                        raise DataFileError(
                            f"{ddir.path / name}:{lineno}: speaker {spk!r} of {utt!r} is "
                            f"not in {ddir.where('utt2spks', utt)} "
                            f"({' '.join(ddir.utt2spks[utt])})"
                        )
            if utt not in ddir.num_spk:
                if not speakers:
                    raise DataFileError(
                        f"{where}: utterance {utt!r} has no turn of positive length, and "
                        "no other file gives its number of speakers"
                    )
                ddir.num_spk[utt] = len(speakers)
            k = ddir.num_spk[utt]
            if len(speakers) != k:
                raise DataFileError(
                    f"{where}: utterance {utt!r} has {len(speakers)} speakers in {name} but "
                    f"{ddir.num_spk_source(utt)} gives K={k} (every source needs a turn)"
                )
            if (
                name == "espnet_rttm"
                and ddir.utt2num_samples is not None
                and utt in ddir.utt2num_samples
                and entry.num_samples != ddir.utt2num_samples[utt]
            ):
                raise DataFileError(
                    f"{ddir.path / name}:{entry.end_lineno}: END of {utt!r} says "
                    f"{entry.num_samples} samples but "
                    f"{ddir.where('utt2num_samples', utt)} says {ddir.utt2num_samples[utt]}"
                )


def log_notes(ddir: DataDir) -> None:
    """Log the files of ``ddir`` that are present but not used."""
    for note in ddir.notes:
        logging.info(note)

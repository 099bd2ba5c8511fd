# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Input recordings of the inference CLI: discovery, and block-wise reading with checks.

:func:`discover_inputs` turns the command line's inputs (audio files, folders, Kaldi
``wav.scp`` files) into named :class:`InputRecording` entries; it only lists, so one bad
file does not stop the batch. :class:`AudioFile` opens one recording (header only) and
reads it in blocks at the model's rate, whatever its rate, channel count and length.

Behaviour for unusual input (``test/espnet_echo/inference/hostile_audio.py`` builds one
file of each kind and the tests check every line of this table):

=====================  ===================================================================
input                  behaviour
=====================  ===================================================================
missing path           :class:`AudioError` ``<path>: audio file not found``
zero bytes             :class:`AudioError` ``<path>: empty file (0 bytes)``
not audio              :class:`AudioError` ``<path>: not an audio file soundfile can read``
truncated WAV          :class:`AudioError` ``<path>: truncated WAV file: ...`` (refused,
                       as the training reader :func:`~espnet_echo.utils.audio.read_audio`
                       refuses it: a partly copied file would give results that look
                       complete)
0 samples              :class:`AudioError` ``<path>: empty audio (0 samples)``
shorter than           :class:`AudioError` ``<path>: too short: ...`` (``min_samples`` at
``min_samples``        the model rate; the CLI passes two encoder frames)
NaN / Inf samples      :class:`AudioError` ``<path>: NaN or Inf sample at <t> s``, raised
                       by the read whose block (with its resampling context) holds it;
                       parts read before it were fine
silence (all zeros)    reads as zeros, no message
clipping               read unchanged; one warning per file (a run of 3 or more samples
                       at ``|x| >= 0.999`` in any channel)
DC offset              read unchanged (not removed: block-wise removal would change the
                       audio with the block size); one warning per file (mean of 1 s or
                       more of samples ``>= 0.01`` in magnitude)
another sample rate    resampled to ``fs`` with one warning; block-wise output equals
                       :func:`~espnet_echo.utils.audio.resample_audio` of the whole file
                       (scipy's ``resample_poly``, same filter, float64 arithmetic)
several channels       ``channel=None``: mean of the channels, one info line;
                       ``channel=k``: channel ``k`` (0-based), out of range is an error
hours long             never loaded whole: each read seeks and reads its samples only
                       (except MP3, and ``wav.scp`` pipe/ark/``.gz`` entries, which are
                       decoded whole when opened: libsndfile 1.2.2's MP3 decoder gives
                       other samples for block reads than for one read, measured)
=====================  ===================================================================

Every error message is one line and starts with the file (or ``wav.scp:line: entry``).
"""

import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import soundfile

from espnet_echo.data.scp import PATH, entry_kind, read_entry
from espnet_echo.utils.audio import AudioError, resampled_length, wav_truncation
from espnet_echo.utils.fileio import DataFileError, read_kaldi_map

logger = logging.getLogger(__name__)

#: File name extensions (lower case) listed from a folder, for the formats this
#: libsndfile reads (``soundfile.available_formats()``).
_FORMAT_EXTENSIONS = {
    "WAV": (".wav", ".wave"),
    "FLAC": (".flac",),
    "OGG": (".ogg", ".oga", ".opus"),
    "MP3": (".mp3",),
    "AIFF": (".aif", ".aiff"),
    "AU": (".au",),
    "CAF": (".caf",),
    "W64": (".w64",),
    "RF64": (".rf64",),
    "NIST": (".sph",),
}
AUDIO_EXTENSIONS = tuple(
    ext
    for fmt, exts in _FORMAT_EXTENSIONS.items()
    if fmt in soundfile.available_formats()
    for ext in exts
)

#: ``|x|`` at or above this counts as full scale for the clipping check.
CLIP_LEVEL = 0.999
#: A run of this many full-scale samples is taken as clipping (a flattened peak).
CLIP_RUN = 3
#: ``|mean|`` at or above this over 1 s or more of samples is reported as a DC offset.
DC_LEVEL = 0.01


@dataclass(frozen=True)
class InputRecording:
    """One recording to decode.

    Attributes:
        name: Its name in the outputs: the file stem (whitespace replaced by ``_``), or
            the ``wav.scp`` key.
        path: The audio file, or for a ``wav.scp`` entry the entry itself (a path, or a
            ``cmd |`` pipe, ``file.ark:offset`` or ``.gz`` entry).
        where: ``wav.scp:line`` for an scp entry, else None (for messages).
    """

    name: str
    path: str
    where: Optional[str] = None

    def open(self, fs: int = 16000, channel: Optional[int] = None, min_samples: int = 1):
        """Open it as an :class:`AudioFile` (same arguments)."""
        return AudioFile(
            self.path, fs=fs, channel=channel, name=self.name, min_samples=min_samples,
            where=self.where,
        )


def discover_inputs(inputs: Sequence[str]) -> List[InputRecording]:
    """List the recordings named on the command line.

    Each input is one of:

    * a file whose name ends in ``.scp``: a Kaldi ``wav.scp`` (``<key> <entry>`` lines,
      read with :func:`~espnet_echo.utils.fileio.read_kaldi_map` and checked with
      :func:`espnet_echo.data.scp.entry_kind`); names are the keys; relative paths are
      relative to the working directory (Kaldi convention); pipe, ark and ``.gz``
      entries are supported (decoded whole into memory by
      :func:`espnet_echo.data.scp.read_entry` when opened);
    * a directory: its audio files (extensions :data:`AUDIO_EXTENSIONS`, any case),
      sorted by file name; hidden files and subdirectories are skipped (not recursive);
    * any other file: one recording, whatever its extension (opening checks it).

    Names are file stems with whitespace replaced by ``_`` (names go into RTTM and Kaldi
    files, whose fields are whitespace-separated). The same file listed twice under the
    same name (e.g. a file and its folder) is kept once; two different recordings with
    one name are an error, not renamed, so that outputs map back to inputs plainly.
    Recordings come in input order. Only existence is checked here: opening each
    (:class:`AudioFile`) validates it, so one bad file does not stop the others.

    Args:
        inputs: Paths from the command line.

    Returns:
        The recordings, in order.

    Raises:
        AudioError: no inputs, a missing input, a folder without audio files, an empty
            or malformed ``wav.scp`` or a refused entry form, or a duplicate name.
    """
    if not inputs:
        raise AudioError("no input recordings given")
    found: List[InputRecording] = []
    for inp in inputs:
        path = Path(inp)
        if not path.exists():
            raise AudioError(f"{inp}: no such file or directory")
        if path.is_dir():
            files = sorted(
                p for p in path.iterdir()
                if p.is_file() and not p.name.startswith(".")
                and p.suffix.lower() in AUDIO_EXTENSIONS
            )
            if not files:
                raise AudioError(
                    f"{inp}: no audio files ({' '.join(AUDIO_EXTENSIONS)}) in this "
                    "directory (subdirectories are not searched)"
                )
            found.extend(InputRecording(_name(p), str(p)) for p in files)
        elif path.suffix == ".scp":
            found.extend(_scp_recordings(path))
        else:
            found.append(InputRecording(_name(path), str(path)))
    out: Dict[str, InputRecording] = {}
    for rec in found:
        seen = out.get(rec.name)
        if seen is None:
            out[rec.name] = rec
        elif _identity(seen) != _identity(rec):
            raise AudioError(
                f"duplicate recording name {rec.name!r}: {_shown(seen)} and {_shown(rec)} "
                "(names are file stems or wav.scp keys; rename one or decode them in "
                "separate runs)"
            )
    return list(out.values())


def _name(path: Path) -> str:
    return re.sub(r"\s+", "_", path.stem)


def _identity(rec: InputRecording) -> str:
    if rec.where is not None and entry_kind(rec.path, rec.where) != PATH:
        return rec.path
    return os.path.realpath(rec.path)


def _shown(rec: InputRecording) -> str:
    return f"{rec.where}: {rec.path}" if rec.where else rec.path


def _scp_recordings(path: Path) -> List[InputRecording]:
    try:
        mapping = read_kaldi_map(path)
        recs = []
        for lineno, (key, value) in enumerate(mapping.items(), 1):
            where = f"{path}:{lineno}"
            entry_kind(value, where)
            recs.append(InputRecording(key, value, where))
    except DataFileError as e:
        raise AudioError(str(e)) from e
    if not recs:
        raise AudioError(f"{path}: no entries in this wav.scp")
    return recs


class _Resampler:
    """Random-access polyphase resampling identical to scipy's ``resample_poly``.

    ``resample_poly(x, up, down)`` (default Kaiser window, zero padding) computes output
    sample ``k`` as ``sum_j h[(k + R) * down - j * up] * x[j]`` with its filter ``h``
    (zero-padded in front) and offset ``R``; this builds the same ``h`` and ``R`` so any
    output range can be computed from the input range it depends on.
    """

    def __init__(self, src_fs: int, dst_fs: int):
        from scipy.signal import firwin

        g = math.gcd(src_fs, dst_fs)
        self.up, self.down = dst_fs // g, src_fs // g
        max_rate = max(self.up, self.down)
        half_len = 10 * max_rate
        h = firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0)) * self.up
        pre_pad = self.down - half_len % self.down
        self.offset = (half_len + pre_pad) // self.down
        self.h = np.concatenate([np.zeros(pre_pad), h])

    def input_range(self, start: int, stop: int) -> Tuple[int, int]:
        """Input samples ``[j0, j1)`` that output ``[start, stop)`` depends on.

        ``j0`` is a multiple of ``down`` and may be negative; ``j1`` may pass the end
        (the signal is zero outside itself).
        """
        up, down, n = self.up, self.down, len(self.h)
        j_min = -(-((start + self.offset) * down - n + 1) // up)
        j_max = ((stop - 1 + self.offset) * down) // up
        return (j_min // down) * down, j_max + 1

    def apply(self, x: np.ndarray, j0: int, start: int, stop: int) -> np.ndarray:
        """Output ``[start, stop)`` from ``x`` = input ``[j0, j1)`` of :meth:`input_range`."""
        from scipy.signal import upfirdn

        y = upfirdn(self.h, x, self.up, self.down)
        m0 = start + self.offset - j0 * self.up // self.down
        out = y[m0:m0 + stop - start]
        assert len(out) == stop - start, (len(out), stop - start)
        return out


class _ArraySource:
    """A decoded ``(T,)`` or ``(T, C)`` signal behind the part of SoundFile that is used."""

    def __init__(self, wav: np.ndarray, rate: int):
        self.wav = wav.reshape(len(wav), -1)
        self.samplerate, self.frames, self.channels = rate, len(wav), self.wav.shape[1]
        self.pos = 0

    def seek(self, pos: int) -> None:
        self.pos = pos

    def read(self, frames: int, dtype: str = "float32", always_2d: bool = True):
        out = self.wav[self.pos:self.pos + frames].astype(dtype)
        self.pos += len(out)
        return out

    def close(self) -> None:
        self.wav = None


class AudioFile:
    """One recording opened for reading at rate ``fs`` in blocks (a context manager).

    Opening reads the header only (a ``wav.scp`` pipe, ark or ``.gz`` entry is decoded
    whole, as it cannot be seeked; so is an MP3 file, see the module docstring). Reads
    convert to ``fs``, mono, float32, and check what they read; see the module docstring
    for the behaviour on unusual input.

    Example::

        with AudioFile("meeting.flac", fs=16000, min_samples=1280) as audio:
            for start, block in audio.blocks(16000 * 30):
                ...

    Args:
        path: The audio file (any format and rate soundfile reads), or a ``wav.scp``
            entry.
        fs: Rate of the samples returned.
        channel: None: average the channels of a multi-channel file (one info line);
            an int: use that channel only (0-based).
        name: Name of the recording for messages (default: the path).
        min_samples: Fewest samples at ``fs`` accepted (the CLI passes two encoder
            frames).
        where: ``wav.scp:line`` of the entry, prefixed to messages.

    Raises:
        AudioError: missing, zero-byte, unreadable or truncated file, 0 samples, fewer
            than ``min_samples``, or ``channel`` out of range; one line naming the file.
    """

    def __init__(
        self,
        path: Union[str, Path],
        fs: int = 16000,
        channel: Optional[int] = None,
        name: Optional[str] = None,
        min_samples: int = 1,
        where: Optional[str] = None,
    ):
        self.path = str(path)
        self.fs = int(fs)
        self.name = name if name is not None else self.path
        self._label = f"{where}: {self.path}" if where else self.path
        self._src = self._open(where)
        try:
            self._setup(channel, min_samples)
        except BaseException:
            self.close()
            raise

    # -- opening -------------------------------------------------------------------

    def _error(self, problem: str) -> AudioError:
        return AudioError(" ".join(f"{self._label}: {problem}".split()))

    def _open(self, where: Optional[str]):
        try:
            kind = entry_kind(self.path, where or self.path)
        except DataFileError as e:
            raise self._error(f"not an audio file or wav.scp entry ({e})") from e
        if kind != PATH:
            try:
                wav, rate = read_entry(self.path, where or "input")
            except AudioError as e:
                raise AudioError(" ".join(str(e).split())) from e
            return _ArraySource(wav, rate)
        if os.path.isdir(self.path):
            raise self._error("is a directory, not an audio file")
        if not os.path.isfile(self.path):
            raise self._error("audio file not found")
        if os.path.getsize(self.path) == 0:
            raise self._error("empty file (0 bytes)")
        try:
            problem = wav_truncation(self.path)
        except OSError as e:
            raise self._error(f"cannot read ({e.strerror or e})") from e
        if problem:
            raise self._error(problem)
        try:
            src = soundfile.SoundFile(self.path)
            if src.format != "MP3":
                return src
            # libsndfile 1.2.2's MP3 decoder returns other samples when read in blocks
            # (or after a seek) than in one read: decode MP3 whole
            with src:
                logger.info("%s: MP3 is decoded whole into memory", self._label)
                return _ArraySource(src.read(dtype="float32", always_2d=True),
                                    src.samplerate)
        except Exception as e:  # LibsndfileError (format not recognised, ...) or OSError
            why = getattr(e, "error_string", None) or str(e)
            raise self._error(f"not an audio file soundfile can read ({why})") from e

    def _setup(self, channel: Optional[int], min_samples: int) -> None:
        src = self._src
        self.source_fs = int(src.samplerate)
        self.source_channels = int(src.channels)
        self.source_samples = int(src.frames)
        if channel is not None:
            if not 0 <= channel < self.source_channels:
                raise self._error(
                    f"channel {channel} requested, but the file has "
                    f"{self.source_channels} channel(s) (0-based: 0 to "
                    f"{self.source_channels - 1})"
                )
        elif self.source_channels > 1:
            logger.info(
                "%s: %d channels, downmixed to mono (mean of the channels); choose one "
                "channel to use it alone", self._label, self.source_channels,
            )
        self.channel = channel
        if self.source_samples == 0:
            raise self._error("empty audio (0 samples)")
        self._resampler = None
        if self.source_fs != self.fs:
            logger.warning("%s: resampling %d Hz to %d Hz", self._label, self.source_fs,
                           self.fs)
            self._resampler = _Resampler(self.source_fs, self.fs)
        self.num_samples = resampled_length(self.source_samples, self.source_fs, self.fs)
        if self.num_samples < min_samples:
            raise self._error(
                f"too short: {self.num_samples} samples ({self.num_samples / self.fs:.3f} "
                f"s) at {self.fs} Hz, the model needs at least {min_samples} "
                f"({min_samples / self.fs:.3f} s)"
            )
        self._warned_clip = self._warned_dc = False
        self._dc_sum, self._dc_count = 0.0, 0

    # -- properties ----------------------------------------------------------------

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.num_samples / self.fs

    def __repr__(self) -> str:
        return (
            f"AudioFile({self.path!r}, {self.duration:.2f} s, source {self.source_fs} Hz "
            f"x {self.source_channels} ch)"
        )

    # -- reading -------------------------------------------------------------------

    def read(self, start: int = 0, stop: Optional[int] = None) -> np.ndarray:
        """Samples ``[start, stop)`` at ``fs``, mono float32; any order of reads.

        Args:
            start: First sample (at ``fs``).
            stop: End (exclusive, at ``fs``); None or past the end: the end.

        Returns:
            float32 ``(stop - start,)``.

        Raises:
            AudioError: NaN or Inf among the samples read (with the time in seconds).
            ValueError: ``start`` outside ``[0, num_samples]`` or ``stop < start``, or
                the file is closed.
        """
        if self._src is None:
            raise ValueError(f"{self._label}: read from a closed AudioFile")
        stop = self.num_samples if stop is None else min(int(stop), self.num_samples)
        start = int(start)
        if not 0 <= start <= self.num_samples or stop < start:
            raise ValueError(
                f"{self._label}: cannot read samples [{start}, {stop}) of "
                f"{self.num_samples}"
            )
        if stop == start:
            return np.zeros(0, np.float32)
        if self._resampler is None:
            return self._read_source(start, stop).astype(np.float32)
        j0, j1 = self._resampler.input_range(start, stop)
        lo, hi = max(j0, 0), min(j1, self.source_samples)
        x = np.zeros(j1 - j0)
        if hi > lo:
            x[lo - j0:hi - j0] = self._read_source(lo, hi)
        return self._resampler.apply(x, j0, start, stop).astype(np.float32)

    def blocks(
        self, block_samples: int, overlap: int = 0
    ) -> Iterator[Tuple[int, np.ndarray]]:
        """Read the whole recording in blocks, each ``overlap`` samples into the last.

        Args:
            block_samples: Block length at ``fs``; the last block may be shorter.
            overlap: Samples each block shares with the previous one.

        Yields:
            ``(start, samples)``: first sample index (at ``fs``) and float32 samples.

        Raises:
            ValueError: ``block_samples < 1`` or ``overlap`` not in
                ``[0, block_samples)``.
            AudioError: as :meth:`read`.
        """
        if block_samples < 1 or not 0 <= overlap < block_samples:
            raise ValueError(
                f"need block_samples >= 1 and 0 <= overlap < block_samples, got "
                f"{block_samples} and {overlap}"
            )
        start = 0
        while True:
            stop = min(start + block_samples, self.num_samples)
            yield start, self.read(start, stop)
            if stop >= self.num_samples:
                return
            start = stop - overlap

    def _read_source(self, lo: int, hi: int) -> np.ndarray:
        """Source samples ``[lo, hi)``, channel picked or mixed, checked; float64."""
        self._src.seek(lo)
        raw = self._src.read(hi - lo, dtype="float32", always_2d=True)
        if len(raw) != hi - lo:  # the header promised more than the decoder gives
            raise self._error(
                f"cannot read audio after {(lo + len(raw)) / self.source_fs:.3f} s: the "
                f"file ends early ({self.source_samples} samples announced)"
            )
        if self.channel is not None:
            raw = raw[:, self.channel:self.channel + 1]
        bad = ~np.isfinite(raw).all(axis=1)
        if bad.any():
            t = (lo + int(np.argmax(bad))) / self.source_fs
            raise self._error(f"NaN or Inf sample at {t:.3f} s")
        self._check_levels(raw, lo)
        return raw.mean(axis=1, dtype=np.float64)

    def _check_levels(self, raw: np.ndarray, lo: int) -> None:
        """Warn once per file about clipping and about a DC offset."""
        if not self._warned_clip and len(raw) >= CLIP_RUN:
            full = np.abs(raw) >= CLIP_LEVEL
            run = full[: len(raw) - CLIP_RUN + 1].copy()
            for i in range(1, CLIP_RUN):
                run &= full[i:len(raw) - CLIP_RUN + 1 + i]
            if run.any():
                t = (lo + int(np.argmax(run.any(axis=1)))) / self.source_fs
                logger.warning(
                    "%s: clipped audio (%d or more samples in a row at full scale, first "
                    "at %.3f s); read as it is", self._label, CLIP_RUN, t,
                )
                self._warned_clip = True
        if not self._warned_dc:
            self._dc_sum += float(raw.sum(dtype=np.float64)) / raw.shape[1]
            self._dc_count += len(raw)
            if self._dc_count >= self.source_fs:
                mean = self._dc_sum / self._dc_count
                if abs(mean) >= DC_LEVEL:
                    logger.warning(
                        "%s: DC offset (mean %+.3f of full scale near %.1f s); not "
                        "removed", self._label, mean, lo / self.source_fs,
                    )
                    self._warned_dc = True
                self._dc_sum, self._dc_count = 0.0, 0

    # -- closing -------------------------------------------------------------------

    def close(self) -> None:
        """Close the file (again: no effect)."""
        src, self._src = getattr(self, "_src", None), None
        if src is not None:
            src.close()

    def __enter__(self) -> "AudioFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""A set of hostile input recordings, one per case of :mod:`espnet_echo.inference.audio_input`.

A test helper (not a test file): ``test_audio_input.py`` checks each entry with
:class:`~espnet_echo.inference.audio_input.AudioFile`, and the CLI test can feed the
whole folder to ``echo_infer.py``. Import it with ``importlib`` or by path, e.g.::

    sys.path.insert(0, str(Path(__file__).parent)); from hostile_audio import ...
"""

import math
from pathlib import Path
from typing import Dict, Tuple, Union

import numpy as np
import soundfile

#: Rate the set is meant to be read at.
FS = 16000
#: ``min_samples`` the expectations assume (two 40 ms encoder frames at 16 kHz).
MIN_SAMPLES = 1280
#: Length of the long recording (``long=True``), in seconds: 2 hours.
LONG_SECONDS = 2 * 3600
#: Rate of the long recording (8 kHz 16-bit: 115.2 MB, written sparse).
LONG_FS = 8000


def _tone(seconds: float, fs: int, amp: float = 0.3, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(round(seconds * fs))) / fs
    return (amp * np.sin(2 * math.pi * freq * t)).astype(np.float32)


def _wav_header(num_samples: int, fs: int, channels: int = 1) -> bytes:
    """A 44-byte PCM16 RIFF/WAVE header declaring ``num_samples`` frames."""
    data = num_samples * channels * 2
    return (
        b"RIFF" + (36 + data).to_bytes(4, "little") + b"WAVE"
        + b"fmt " + (16).to_bytes(4, "little") + (1).to_bytes(2, "little")
        + channels.to_bytes(2, "little") + fs.to_bytes(4, "little")
        + (fs * channels * 2).to_bytes(4, "little") + (channels * 2).to_bytes(2, "little")
        + (16).to_bytes(2, "little")
        + b"data" + data.to_bytes(4, "little")
    )


def write_long_wav(path: Union[str, Path], seconds: int = LONG_SECONDS,
                   fs: int = LONG_FS) -> Path:
    """A long 16-bit mono WAV written sparse: silence, then a 1 s tone at the very end.

    Only the header and the last second are written (the file is extended with
    ``truncate``), so it takes little disk space and time on filesystems with sparse
    files (ext4, xfs, tmpfs).
    """
    path = Path(path)
    n = seconds * fs
    tail = (_tone(1.0, fs) * 32767).astype("<i2").tobytes()
    with open(path, "wb") as f:
        f.write(_wav_header(n, fs))
        f.truncate(44 + 2 * n)
        f.seek(44 + 2 * n - len(tail))
        f.write(tail)
    return path


def make_hostile_set(
    dir: Union[str, Path], long: bool = False, min_samples: int = MIN_SAMPLES
) -> Dict[str, Tuple[Path, str]]:
    """Write one file per hostile case into ``dir``.

    Args:
        dir: Folder to write into (created if needed).
        long: Also write ``long_2h``, a sparse 2-hour 8 kHz WAV (see
            :func:`write_long_wav`).
        min_samples: The ``min_samples`` the reader will get (decides whether
            ``short_10ms`` is an error).

    Returns:
        ``{name: (path, expected)}``; expected is ``"error:<substring of the
        message>"`` or ``"ok:<documented behaviour>"``. File stems equal the names.
    """
    d = Path(dir)
    d.mkdir(parents=True, exist_ok=True)
    out: Dict[str, Tuple[Path, str]] = {}

    def add(name: str, expected: str, ext: str = ".wav") -> Path:
        path = d / f"{name}{ext}"
        out[name] = (path, expected)
        return path

    add("zero_bytes", "error:empty file (0 bytes)").write_bytes(b"")
    add("not_audio", "error:not an audio file soundfile can read").write_text(
        "this is not a WAV file\n"
    )
    soundfile.write(add("empty", "error:empty audio (0 samples)"),
                    np.zeros(0, np.float32), FS, subtype="PCM_16")
    trunc = add("truncated", "error:truncated WAV file")
    soundfile.write(trunc, _tone(1.0, FS), FS, subtype="PCM_16")
    with open(trunc, "r+b") as f:
        f.truncate(44 + 2 * 4000)
    wav = _tone(1.0, FS)
    wav[FS // 2] = np.nan
    soundfile.write(add("nan", "error:NaN or Inf sample at 0.500 s"), wav, FS,
                    subtype="FLOAT")
    wav = _tone(1.0, FS)
    wav[FS // 4] = np.inf
    soundfile.write(add("inf", "error:NaN or Inf sample at 0.250 s"), wav, FS,
                    subtype="FLOAT")
    short = FS // 100
    soundfile.write(
        add("short_10ms", "error:too short" if short < min_samples
            else "ok:reads (10 ms is at least min_samples)"),
        _tone(0.01, FS), FS, subtype="PCM_16",
    )
    soundfile.write(add("silence", "ok:all zeros, reads as zeros without a message"),
                    np.zeros(FS, np.float32), FS, subtype="PCM_16")
    stereo = np.stack([_tone(1.0, FS, 0.4, 220.0), _tone(1.0, FS, 0.2, 330.0)], axis=1)
    soundfile.write(add("stereo", "ok:2 channels, downmixed to their mean (info line)"),
                    stereo, FS, subtype="PCM_16")
    soundfile.write(add("rate_8k", "ok:8000 Hz, resampled to 16000 Hz (warning)"),
                    _tone(1.0, 8000), 8000, subtype="PCM_16")
    soundfile.write(add("rate_44k1", "ok:44100 Hz, resampled to 16000 Hz (warning)"),
                    _tone(1.0, 44100), 44100, subtype="PCM_16")
    soundfile.write(add("clipped", "ok:read unchanged, one clipping warning"),
                    np.clip(_tone(2.0, FS, amp=3.0), -1.0, 1.0), FS, subtype="PCM_16")
    soundfile.write(add("dc_offset", "ok:read unchanged (not removed), one DC warning"),
                    _tone(2.0, FS, amp=0.2) + 0.25, FS, subtype="PCM_16")
    soundfile.write(add("flac_mono", "ok:plain 16 kHz FLAC, read as is", ".flac"),
                    _tone(1.0, FS), FS)
    if long:
        write_long_wav(add("long_2h", "ok:2 hours, read in blocks with bounded memory"))
    return out

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Audio loading with validation: one clear error naming the file for each bad input."""

import os
import warnings
from math import gcd
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
import soundfile


class AudioError(ValueError):
    """An audio file cannot be used; the message names the file and the problem."""


def load_audio(
    path: Union[str, Path],
    fs: int = 16000,
    resample: bool = False,
    allow_silent: bool = True,
) -> np.ndarray:
    """Read a mono waveform and check it.

    Args:
        path: Audio file readable by soundfile.
        fs: Expected sample rate.
        resample: If True, resample other rates to ``fs`` with a warning; else raise.
        allow_silent: If False, an all-zero signal is an error.

    Returns:
        float32 array of shape ``(T,)``.

    Raises:
        AudioError: missing, unreadable or truncated file (libsndfile reads a cut WAV
            silently, so its header is checked), multi-channel audio, wrong sample
            rate (unless ``resample``), empty signal, NaN/Inf samples, or silence when
            ``allow_silent`` is False.
    """
    wav, rate = read_audio(path)
    return conform_audio(wav, rate, path, fs, resample, allow_silent)


def read_audio(path: Union[str, Path]) -> Tuple[np.ndarray, int]:
    """Read a mono waveform at its own rate and check it (all checks but rate/silence).

    Args:
        path: Audio file readable by soundfile.

    Returns:
        ``(wav, rate)``: float32 ``(T,)`` samples and the file's rate in Hz.

    Raises:
        AudioError: missing, unreadable, truncated, multi-channel, empty or NaN/Inf audio.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    problem = wav_truncation(path)
    if problem:
        raise AudioError(f"{path}: {problem}")
    try:
        wav, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError/RuntimeError
        raise AudioError(f"{path}: cannot read audio ({e})") from e
    return check_signal(wav, path), int(rate)


def check_signal(wav: np.ndarray, name: Union[str, Path]) -> np.ndarray:
    """Check a decoded signal and return it as float32 ``(T,)``.

    Integer samples are scaled to [-1, 1) as soundfile does (int16 / 2**15, int32 /
    2**31, uint8 centred on 128).

    Args:
        wav: ``(T,)`` or ``(T, C)`` samples.
        name: The file (or scp entry) it came from, for messages.

    Raises:
        AudioError: more than one channel, no samples, or NaN/Inf samples.
    """
    wav = np.asarray(wav)
    if wav.ndim == 2:
        if wav.shape[1] != 1:
            raise AudioError(f"{name}: expected mono audio, got {wav.shape[1]} channels")
        wav = wav[:, 0]
    elif wav.ndim != 1:
        raise AudioError(f"{name}: expected a waveform, got an array of shape {wav.shape}")
    if wav.dtype.kind in "iu":
        if wav.dtype == np.uint8:
            wav = (wav.astype(np.float32) - 128.0) / 128.0
        else:
            wav = wav.astype(np.float64) / float(2 ** (8 * wav.dtype.itemsize - 1))
    wav = wav.astype(np.float32, copy=False)
    if wav.size == 0:
        raise AudioError(f"{name}: empty audio (0 samples)")
    if not np.all(np.isfinite(wav)):
        raise AudioError(f"{name}: audio contains NaN or Inf samples")
    return wav


def conform_audio(
    wav: np.ndarray,
    rate: int,
    name: Union[str, Path],
    fs: int = 16000,
    resample: bool = False,
    allow_silent: bool = True,
) -> np.ndarray:
    """Bring a checked signal to rate ``fs`` (or refuse) and apply the silence policy.

    Args:
        wav: float32 ``(T,)`` samples at ``rate``.
        rate: Its sample rate.
        name: The file (or scp entry) it came from, for messages.
        fs: Expected sample rate.
        resample: If True, resample other rates to ``fs`` with a warning; else raise.
        allow_silent: If False, an all-zero signal is an error.

    Raises:
        AudioError: wrong rate (unless ``resample``), or silence when not allowed.
    """
    if rate != fs:
        if not resample:
            raise AudioError(f"{name}: sample rate {rate} Hz, expected {fs} Hz")
        warnings.warn(f"{name}: resampling {rate} Hz to {fs} Hz", stacklevel=3)
        wav = resample_audio(wav, rate, fs)
    if not allow_silent and not np.any(wav):
        raise AudioError(f"{name}: audio is silent (all samples are zero)")
    return wav


def resampled_length(num_samples: int, src_fs: int, dst_fs: int) -> int:
    """Length of :func:`resample_audio`'s output, ``ceil(num_samples * up / down)``."""
    g = gcd(src_fs, dst_fs)
    up, down = dst_fs // g, src_fs // g
    return -(-num_samples * up // down)


def resample_audio(wav: np.ndarray, src_fs: int, dst_fs: int) -> np.ndarray:
    """Polyphase resampling of a ``(T,)`` signal (scipy), returned as float32."""
    from scipy.signal import resample_poly

    g = gcd(src_fs, dst_fs)
    return resample_poly(wav, dst_fs // g, src_fs // g).astype(np.float32)


def wav_truncation(path: Union[str, Path]) -> Optional[str]:
    """Why a RIFF/WAVE file is truncated, or None.

    libsndfile silently reads a WAV whose data chunk is cut short, so this compares the
    declared data size with the bytes present. Other formats, and WAVs written as a stream
    (data size 0 or 0xFFFFFFFF), are left to libsndfile.
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        size = os.fstat(f.fileno()).st_size
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk = f.read(8)
            chunk_id, chunk_len = chunk[:4], int.from_bytes(chunk[4:], "little")
            if chunk_id == b"data":
                if chunk_len in (0, 0xFFFFFFFF):
                    return None
                present = size - pos - 8
                if chunk_len > present:
                    return (
                        f"truncated WAV file: the header declares {chunk_len} bytes of "
                        f"audio but only {present} are present"
                    )
                return None
            pos += 8 + chunk_len + (chunk_len & 1)
    return None

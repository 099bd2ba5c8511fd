# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Oracle separations that bound what a separator can reach on a data dir.

* :func:`activity_gate`: the mixture kept only on the frames where one speaker is
  active (from the reference RTTM): perfect diarization used as a separator. It cannot
  separate inside overlaps or remove noise, so its SI-SDRi is the ceiling of any system
  that only decides *who speaks when*.
* :func:`ideal_binary_masks`: the STFT bins where a source dominates the rest of the
  mixture; the usual ceiling of mask-based separation.

``bench/separation_bounds.py`` scores both with
:func:`espnet_echo.metrics.sisdr.score_separation`.
"""

from typing import Iterable, Tuple

import numpy as np
from scipy.signal import istft, stft


def activity_gate(
    mix: np.ndarray, segments: Iterable[Tuple[float, float]], fs: int, frame: int
) -> np.ndarray:
    """The mixture kept on every frame that overlaps one of ``segments``.

    Args:
        mix: Mixture (N,).
        segments: ``(start, duration)`` in seconds of one speaker's turns.
        fs: Sample rate.
        frame: Gating frame in samples (a frame is kept whole or zeroed).

    Returns:
        (N,) gated mixture.
    """
    if frame < 1:
        raise ValueError(f"frame must be >= 1 sample, got {frame}")
    n_frames = -(-len(mix) // frame)
    active = np.zeros(n_frames, dtype=bool)
    for start, dur in segments:
        first = int(np.floor(start * fs / frame))
        last = int(np.ceil((start + dur) * fs / frame))
        active[max(first, 0):last] = True
    return mix * np.repeat(active, frame)[: len(mix)]


def ideal_binary_masks(
    mix: np.ndarray, refs: np.ndarray, fs: int, win_sec: float = 0.032
) -> np.ndarray:
    """Ideal-binary-mask estimates: each source keeps the bins where it beats the rest.

    Args:
        mix: Mixture (N,).
        refs: Reference sources (K, N); "the rest" of source k is ``mix - refs[k]``
            (the other sources plus noise).
        fs: Sample rate.
        win_sec: STFT window (Hann, 50 % overlap).

    Returns:
        (K, N) estimates.
    """
    nper = int(round(win_sec * fs))
    kw = dict(fs=fs, nperseg=nper, noverlap=nper // 2)
    _, _, spec_mix = stft(mix, **kw)
    out = []
    for ref in refs:
        _, _, spec_ref = stft(ref, **kw)
        mask = np.abs(spec_ref) > np.abs(spec_mix - spec_ref)
        _, est = istft(spec_mix * mask, **kw)
        out.append(np.pad(est, (0, max(0, len(mix) - len(est))))[: len(mix)])
    return np.stack(out) if out else np.zeros((0, len(mix)))

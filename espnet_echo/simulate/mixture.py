# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Pure-numpy mixing of K single-speaker sources with overlap, level and noise control.

Everything the contract needs to hold exactly is done here: sources and noise are quantised
to int16 first and summed in int32 with headroom, so ``mix == sum(sources) + noise`` holds
sample for sample, and the activity segments (RTTM) are measured on the int16 sources.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

INT16_MAX = 32767
LENGTH_MODES = ("max", "min")


@dataclass
class MixConfig:
    """How sources are placed, levelled and corrupted.

    Attributes:
        fs: Sample rate in Hz.
        overlap_range: Range of the overlap ratio ``r`` drawn per mixture. Consecutive
            sources overlap by ``r`` times the shorter of the two; ``r == 0`` gives
            sequential turns separated by a gap from ``gap_range``; ``r >= 1`` places all
            sources start-aligned (fully overlapped, LibriMix style, see ``length_mode``).
        gap_range: Silence in seconds between two consecutive non-overlapping turns.
        length_mode: Fully-overlapped case only: ``"max"`` pads to the longest source,
            ``"min"`` cuts every source to the shortest (transcripts are not cut).
        gain_range: Per-source level in dB relative to ``ref_level``.
        snr_range: Speech-to-noise ratio in dB (speech power over the samples where any
            source is placed).
        noise_tilt_range: Exponent ``b`` of the noise power spectrum ``f**b``
            (0 white, -1 pink, -2 brown).
        ref_level: RMS of each source in dBFS before its gain.
        peak: Largest absolute value of any of mix/sources/noise as a fraction of int16
            full scale; signals are scaled down together when they would exceed it.
        activity_threshold_db: A 10 ms frame of a source is active when its energy is
            within this many dB of the source's loudest frame.
        activity_frame_ms: Frame length for activity detection.
        min_silence: Pauses shorter than this (seconds) do not split an activity segment.
    """

    fs: int = 16000
    overlap_range: Tuple[float, float] = (0.0, 1.0)
    gap_range: Tuple[float, float] = (0.1, 0.5)
    length_mode: str = "max"
    gain_range: Tuple[float, float] = (-5.0, 5.0)
    snr_range: Tuple[float, float] = (10.0, 30.0)
    noise_tilt_range: Tuple[float, float] = (-2.0, 0.0)
    ref_level: float = -25.0
    peak: float = 0.9
    activity_threshold_db: float = -40.0
    activity_frame_ms: float = 10.0
    min_silence: float = 0.2

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        ranges = {
            "overlap_range": (self.overlap_range, 0.0, 1.0),
            "gap_range": (self.gap_range, 0.0, 60.0),
            "gain_range": (self.gain_range, -60.0, 60.0),
            "snr_range": (self.snr_range, -30.0, 200.0),
            "noise_tilt_range": (self.noise_tilt_range, -4.0, 4.0),
        }
        for name, (value, lo, hi) in ranges.items():
            if len(value) != 2 or not lo <= value[0] <= value[1] <= hi:
                raise ValueError(
                    f"{name} must be two numbers lo <= hi within [{lo:g}, {hi:g}], got {value}"
                )
        if self.length_mode not in LENGTH_MODES:
            raise ValueError(
                f"length_mode must be one of {LENGTH_MODES}, got {self.length_mode!r}"
            )
        if not 0.0 < self.peak <= 1.0:
            raise ValueError(f"peak must be in (0, 1], got {self.peak}")
        if self.ref_level >= 0.0:
            raise ValueError(f"ref_level must be negative dBFS, got {self.ref_level}")
        if self.fs <= 0 or self.activity_frame_ms <= 0 or self.min_silence < 0:
            raise ValueError("fs and activity_frame_ms must be positive, min_silence >= 0")


@dataclass
class Mixture:
    """A mixture and everything it is made of, all of one length ``T``.

    Attributes:
        mix: int16 ``(T,)``; equals ``sources.sum(0) + noise`` exactly (in int32).
        sources: int16 ``(K, T)``; source k as it sits in the mixture, zeros elsewhere.
        noise: int16 ``(T,)``.
        onsets: Sample where each source starts.
        lengths: Samples of each source inside the mixture (after ``min`` cutting).
        segments: Per source, ``[(start, end), ...]`` sample ranges (end exclusive) where
            the source is active, in time order.
        params: The drawn parameters (overlap, gains_db, snr_db, tilt, scale).
    """

    mix: np.ndarray
    sources: np.ndarray
    noise: np.ndarray
    onsets: List[int]
    lengths: List[int]
    segments: List[List[Tuple[int, int]]]
    params: Dict[str, object] = field(default_factory=dict)


def place_sources(
    lengths: Sequence[int],
    overlap: float,
    rng: np.random.Generator,
    fs: int = 16000,
    gap_range: Tuple[float, float] = (0.1, 0.5),
    length_mode: str = "max",
) -> Tuple[List[int], List[int], int]:
    """Choose where each source starts.

    Args:
        lengths: Samples of each source, in speaking order.
        overlap: Ratio in [0, 1] (see :class:`MixConfig`).
        rng: Random generator (used only for gaps).
        fs: Sample rate.
        gap_range: Gap in seconds when two consecutive sources do not overlap.
        length_mode: ``"max"`` or ``"min"``, used when ``overlap >= 1``.

    Returns:
        ``(onsets, kept_lengths, total_length)``.
    """
    lengths = [int(n) for n in lengths]
    if not lengths or min(lengths) <= 0:
        raise ValueError(f"need at least one non-empty source, got lengths {lengths}")
    if overlap >= 1.0:
        if length_mode == "min":
            n = min(lengths)
            return [0] * len(lengths), [n] * len(lengths), n
        return [0] * len(lengths), lengths, max(lengths)
    onsets = [0]
    for prev_len, cur_len in zip(lengths[:-1], lengths[1:]):
        prev_end = onsets[-1] + prev_len
        ov = int(round(overlap * min(prev_len, cur_len)))
        if ov == 0:
            onsets.append(prev_end + int(round(rng.uniform(*gap_range) * fs)))
        else:
            onsets.append(prev_end - ov)
    total = max(o + n for o, n in zip(onsets, lengths))
    return onsets, lengths, total


def colored_noise(
    num_samples: int, tilt: float, rng: np.random.Generator, fs: int = 16000
) -> np.ndarray:
    """Unit-variance Gaussian noise with power spectrum proportional to ``f**tilt``.

    Frequencies below 20 Hz get the 20 Hz gain, so brown noise has no DC drift.

    Args:
        num_samples: Length.
        tilt: Spectral exponent (0 white, -1 pink, -2 brown, +1 blue).
        rng: Random generator.
        fs: Sample rate.

    Returns:
        float64 ``(num_samples,)`` with zero mean and unit variance.
    """
    if tilt == 0.0 or num_samples < 2:
        out = rng.standard_normal(num_samples)
    else:
        # Shape a power-of-two block (fast FFT for any length) and keep its start.
        n_fft = 1 << (num_samples - 1).bit_length()
        spec = np.fft.rfft(rng.standard_normal(n_fft))
        freqs = np.fft.rfftfreq(n_fft, d=1.0 / fs)
        spec *= np.maximum(freqs, 20.0) ** (tilt / 2.0)
        out = np.fft.irfft(spec, n=n_fft)[:num_samples]
    out = out - out.mean()
    std = out.std()
    return out / std if std > 0 else out


def activity_segments(
    source: np.ndarray,
    fs: int = 16000,
    threshold_db: float = -40.0,
    frame_ms: float = 10.0,
    min_silence: float = 0.2,
    start: int = 0,
    end: Optional[int] = None,
) -> List[Tuple[int, int]]:
    """Sample ranges where ``source`` is active (energy threshold on short frames).

    Frames of ``frame_ms`` are laid from ``start``; a frame is active when its energy is
    non-zero and within ``threshold_db`` of the loudest frame. Active frames closer than
    ``min_silence`` are joined. Segments are clipped to ``[start, end)``.

    Args:
        source: ``(T,)`` signal (int16 or float).
        fs: Sample rate.
        threshold_db: Relative energy threshold (negative).
        frame_ms: Frame length.
        min_silence: Shortest pause (seconds) that separates two segments.
        start: First sample to analyse (the source's onset).
        end: One past the last sample to analyse (default: end of ``source``).

    Returns:
        ``[(seg_start, seg_end), ...]`` with ``seg_end`` exclusive, sorted, disjoint.
    """
    end = source.size if end is None else end
    x = np.asarray(source[start:end], dtype=np.float64)
    if x.size == 0:
        return []
    hop = max(int(round(frame_ms * fs / 1000.0)), 1)
    num_frames = -(-x.size // hop)
    padded = np.zeros(num_frames * hop)
    padded[: x.size] = x
    energy = (padded.reshape(num_frames, hop) ** 2).mean(axis=1)
    peak = energy.max()
    if peak <= 0.0:
        return []
    active = energy > max(peak * 10.0 ** (threshold_db / 10.0), 0.0)
    idx = np.flatnonzero(active)
    max_gap = int(round(min_silence * fs / hop))
    # Split where the number of silent frames between consecutive active frames >= max_gap.
    breaks = np.flatnonzero(np.diff(idx) - 1 >= max(max_gap, 1))
    firsts = np.concatenate([[idx[0]], idx[breaks + 1]])
    lasts = np.concatenate([idx[breaks], [idx[-1]]])
    return [
        (start + int(f) * hop, start + min((int(l) + 1) * hop, x.size))
        for f, l in zip(firsts, lasts)
    ]


def _quantize(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * INT16_MAX), -INT16_MAX, INT16_MAX).astype(np.int16)


def add_noise_and_quantize(
    placed: np.ndarray,
    covered: np.ndarray,
    snr_db: float,
    tilt: float,
    peak: float,
    rng: np.random.Generator,
    fs: int,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Add coloured noise at ``snr_db`` and quantise so that the int16 sum is exact.

    The noise power is set against the speech power over the ``covered`` samples. One
    common scale keeps every signal and their float sum under ``peak``; the integer sum
    then differs from the float sum by at most (K + 1) / 2 LSB, far inside the headroom
    (the contract's ``mix == sum(sources) + noise`` on int16).

    Args:
        placed: Float sources on the recording's time line (K, N).
        covered: Samples where any source is placed (N,) bool.
        snr_db: Speech-to-noise ratio (dB).
        tilt: Spectral tilt of the noise (:func:`colored_noise`).
        peak: Largest absolute float value allowed (full scale 1.0).
        rng: Random generator (the noise).
        fs: Sample rate (Hz).

    Returns:
        int16 sources (K, N), int16 noise (N,), their int32 sum (N,) and the scale.
    """
    total = placed.shape[1]
    speech = placed.sum(axis=0)
    speech_power = float(np.mean(speech[covered] ** 2)) if covered.any() else 0.0
    noise_power = speech_power / 10.0 ** (snr_db / 10.0)
    noise = colored_noise(total, tilt, rng, fs) * np.sqrt(noise_power)
    biggest = max(np.abs(placed).max(), np.abs(noise).max(), np.abs(speech + noise).max())
    scale = min(1.0, peak / biggest) if biggest > 0 else 1.0
    while True:
        q_sources = _quantize(placed * scale)
        q_noise = _quantize(noise * scale)
        total_int = q_sources.astype(np.int32).sum(axis=0) + q_noise.astype(np.int32)
        if np.abs(total_int).max() <= INT16_MAX:
            return q_sources, q_noise, total_int, scale
        scale *= 0.95  # unreachable with peak <= 1 in practice; kept as a guarantee


def mix_sources(
    sources: Sequence[np.ndarray], rng: np.random.Generator, config: Optional[MixConfig] = None
) -> Mixture:
    """Place, level, add noise and quantise K sources into one mixture.

    Draws, in this order from ``rng``: overlap ratio, gaps, per-source gains, SNR, noise
    tilt, noise samples. The same ``rng`` state and inputs give the same mixture.

    Args:
        sources: K float signals in [-1, 1] at ``config.fs``, in speaking order.
        rng: Random generator.
        config: Mixing settings (defaults: :class:`MixConfig`).

    Returns:
        The :class:`Mixture`; ``mix.astype(int32) == sources.sum(0) + noise`` exactly.

    Raises:
        ValueError: bad config, no source, or an empty/silent source.
    """
    config = config or MixConfig()
    config.validate()
    if len(sources) == 0:
        raise ValueError("need at least one source")
    srcs = [np.asarray(s, dtype=np.float64) for s in sources]
    for k, s in enumerate(srcs):
        if s.ndim != 1 or s.size == 0 or not np.any(s):
            raise ValueError(f"source {k} is empty, silent or not 1-D (shape {s.shape})")
    fs = config.fs
    overlap = float(rng.uniform(*config.overlap_range))
    onsets, lengths, total = place_sources(
        [s.size for s in srcs], overlap, rng, fs, config.gap_range, config.length_mode
    )
    gains_db = rng.uniform(*config.gain_range, size=len(srcs))
    snr_db = float(rng.uniform(*config.snr_range))
    tilt = float(rng.uniform(*config.noise_tilt_range))

    placed = np.zeros((len(srcs), total))
    covered = np.zeros(total, dtype=bool)
    ref = 10.0 ** (config.ref_level / 20.0)
    for k, (s, onset, n) in enumerate(zip(srcs, onsets, lengths)):
        rms = np.sqrt(np.mean(s**2))
        placed[k, onset : onset + n] = s[:n] * (ref / rms) * 10.0 ** (gains_db[k] / 20.0)
        covered[onset : onset + n] = True
    q_sources, q_noise, total_int, scale = add_noise_and_quantize(
        placed, covered, snr_db, tilt, config.peak, rng, fs
    )
    segments = [
        activity_segments(
            q_sources[k],
            fs,
            config.activity_threshold_db,
            config.activity_frame_ms,
            config.min_silence,
            start=onsets[k],
            end=onsets[k] + lengths[k],
        )
        for k in range(len(srcs))
    ]
    params = {
        "overlap": overlap,
        "gains_db": [float(g) for g in gains_db],
        "snr_db": snr_db,
        "noise_tilt": tilt,
        "scale": float(scale),
    }
    return Mixture(
        mix=total_int.astype(np.int16),
        sources=q_sources,
        noise=q_noise,
        onsets=[int(o) for o in onsets],
        lengths=[int(n) for n in lengths],
        segments=segments,
        params=params,
    )

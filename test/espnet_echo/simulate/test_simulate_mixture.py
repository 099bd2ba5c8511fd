# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Pure-numpy mixing: exact integer sum, placement, levels, noise, activity."""

import numpy as np
import pytest

from espnet_echo.simulate.mixture import (
    MixConfig,
    activity_segments,
    colored_noise,
    mix_sources,
    place_sources,
)

FS = 16000


def _speechlike(rng, seconds, pauses=()):
    """Amplitude-modulated noise with exact-zero pauses ((start_s, end_s) pairs)."""
    n = int(seconds * FS)
    t = np.arange(n) / FS
    x = rng.standard_normal(n) * (0.3 + 0.2 * np.sin(2 * np.pi * 3 * t)) * 0.3
    for a, b in pauses:
        x[int(a * FS) : int(b * FS)] = 0.0
    return x.astype(np.float32)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("overlap_range", [(0.0, 0.0), (0.0, 1.0), (1.0, 1.0)])
def test_exact_integer_sum(k, overlap_range):
    rng = np.random.default_rng(k)
    srcs = [_speechlike(rng, rng.uniform(0.5, 2.0)) for _ in range(k)]
    cfg = MixConfig(overlap_range=overlap_range, gain_range=(-10, 10), snr_range=(-5, 40))
    m = mix_sources(srcs, np.random.default_rng(0), cfg)
    assert m.mix.dtype == m.sources.dtype == m.noise.dtype == np.int16
    assert m.sources.shape == (k, m.mix.size) and m.noise.shape == m.mix.shape
    total = m.sources.astype(np.int32).sum(0) + m.noise.astype(np.int32)
    np.testing.assert_array_equal(total, m.mix.astype(np.int32))
    # zeros outside the placement
    for n in range(k):
        placed = np.zeros(m.mix.size, dtype=bool)
        placed[m.onsets[n] : m.onsets[n] + m.lengths[n]] = True
        assert not np.any(m.sources[n][~placed])


def test_loud_sources_get_headroom():
    srcs = [np.ones(8000, dtype=np.float32) * 0.99 for _ in range(4)]
    cfg = MixConfig(overlap_range=(1.0, 1.0), gain_range=(20, 20), snr_range=(0, 0))
    m = mix_sources(srcs, np.random.default_rng(0), cfg)
    assert np.abs(m.mix.astype(np.int32)).max() <= 32767 * 0.9 + 5
    np.testing.assert_array_equal(m.sources.astype(np.int32).sum(0) + m.noise, m.mix)
    assert m.params["scale"] < 1.0


def test_place_sequential_with_gaps():
    rng = np.random.default_rng(0)
    onsets, lengths, total = place_sources([16000, 8000, 12000], 0.0, rng, FS, (0.2, 0.3))
    for n in range(1, 3):
        gap = onsets[n] - (onsets[n - 1] + lengths[n - 1])
        assert 0.2 * FS <= gap <= 0.3 * FS
    assert total == onsets[2] + lengths[2]


def test_place_partial_overlap():
    onsets, lengths, total = place_sources([16000, 8000], 0.5, np.random.default_rng(0), FS)
    assert onsets == [0, 16000 - 4000] and total == 20000


@pytest.mark.parametrize("mode, expect", [("max", 20000), ("min", 8000)])
def test_full_overlap_length_modes(mode, expect):
    rng = np.random.default_rng(0)
    srcs = [_speechlike(rng, 0.5), _speechlike(rng, 1.25), _speechlike(rng, 1.0)]
    cfg = MixConfig(overlap_range=(1.0, 1.0), length_mode=mode)
    m = mix_sources(srcs, np.random.default_rng(0), cfg)
    assert m.onsets == [0, 0, 0] and m.mix.size == expect
    assert m.lengths == ([8000] * 3 if mode == "min" else [8000, 20000, 16000])


def test_gains_and_snr():
    rng = np.random.default_rng(3)
    srcs = [_speechlike(rng, 3.0), _speechlike(rng, 3.0)]
    cfg = MixConfig(overlap_range=(1, 1), gain_range=(-6, 6), snr_range=(15, 15))
    m = mix_sources(srcs, np.random.default_rng(1), cfg)
    s = m.sources.astype(np.float64)
    level = 10 * np.log10((s**2).mean(1))
    g = m.params["gains_db"]
    assert abs((level[0] - level[1]) - (g[0] - g[1])) < 0.1
    snr = 10 * np.log10((s.sum(0) ** 2).mean() / (m.noise.astype(np.float64) ** 2).mean())
    assert abs(snr - 15.0) < 0.1


@pytest.mark.parametrize("tilt", [-2.0, -1.0, 0.0, 1.0])
def test_colored_noise_tilt(tilt):
    x = colored_noise(1 << 16, tilt, np.random.default_rng(0))
    assert abs(x.std() - 1) < 1e-6 and abs(x.mean()) < 1e-9
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / FS)
    lo = spec[(f > 200) & (f < 400)].mean()
    hi = spec[(f > 3200) & (f < 6400)].mean()
    slope = 10 * np.log10(hi / lo) / np.log2(16)  # dB per octave over 4 octaves
    assert abs(slope - 3.0103 * tilt) < 1.0


def test_activity_segments_follow_energy():
    rng = np.random.default_rng(0)
    x = np.zeros(3 * FS)
    x[1000:9000] = rng.standard_normal(8000)
    x[9500:12000] = rng.standard_normal(2500)  # 31 ms pause: joined
    x[30000:40000] = rng.standard_normal(10000)  # 1.1 s pause: split
    segs = activity_segments(x, FS, min_silence=0.2)
    assert len(segs) == 2
    (a0, a1), (b0, b1) = segs
    assert a0 <= 1000 < a0 + 160 and 12000 <= a1 < 12000 + 160
    assert b0 <= 30000 < b0 + 160 and 40000 <= b1 < 40000 + 160
    assert activity_segments(np.zeros(100), FS) == []


def test_activity_matches_nonsilent_regions():
    rng = np.random.default_rng(5)
    srcs = [_speechlike(rng, 2.0, pauses=[(0.8, 1.3)]), _speechlike(rng, 1.0)]
    m = mix_sources(srcs, np.random.default_rng(0), MixConfig(overlap_range=(0.3, 0.3)))
    assert len(m.segments[0]) == 2 and len(m.segments[1]) == 1
    for n, segs in enumerate(m.segments):
        src = m.sources[n].astype(np.float64)
        mask = np.zeros(src.size, dtype=bool)
        for a, b in segs:
            mask[a:b] = True
            assert np.any(src[a : a + 160]) and np.any(src[b - 160 : b])
        assert not np.any(src[~mask])  # silent (exact zeros) outside its segments


def test_deterministic_and_config_errors():
    rng = np.random.default_rng(0)
    srcs = [_speechlike(rng, 1.0), _speechlike(rng, 0.7)]
    a = mix_sources(srcs, np.random.default_rng(9))
    b = mix_sources(srcs, np.random.default_rng(9))
    np.testing.assert_array_equal(a.mix, b.mix)
    assert a.segments == b.segments and a.params == b.params
    with pytest.raises(ValueError, match="overlap_range"):
        mix_sources(srcs, rng, MixConfig(overlap_range=(0.5, 1.5)))
    with pytest.raises(ValueError, match="length_mode"):
        mix_sources(srcs, rng, MixConfig(length_mode="avg"))
    with pytest.raises(ValueError, match="source 1"):
        mix_sources([srcs[0], np.zeros(10)], rng)

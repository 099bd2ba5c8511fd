import numpy as np
import pytest

from espnet_echo.metrics.oracle_separation import activity_gate, ideal_binary_masks
from espnet_echo.metrics.sisdr import score_separation

FS = 8000


def tone(freq, start, stop, n=FS * 2):
    t = np.arange(n) / FS
    x = np.sin(2 * np.pi * freq * t)
    x[: int(start * FS)] = 0
    x[int(stop * FS):] = 0
    return x


def test_gate_keeps_whole_frames_of_the_turns():
    mix = np.ones(1000)
    out = activity_gate(mix, [(0.0101, 0.01)], fs=1000, frame=10)
    # the turn covers samples 10.1..20.1 -> frames 1 and 2 (samples 10..29) are kept
    assert np.array_equal(np.flatnonzero(out), np.arange(10, 30))
    assert not activity_gate(mix, [], fs=1000, frame=10).any()


def test_gate_clips_turns_to_the_mixture():
    mix = np.ones(25)
    out = activity_gate(mix, [(-1.0, 5.0)], fs=10, frame=4)
    assert np.array_equal(out, mix)


def test_gate_rejects_empty_frame():
    with pytest.raises(ValueError, match="frame"):
        activity_gate(np.ones(4), [], fs=10, frame=0)


def test_gate_separates_sequential_turns_but_not_overlaps():
    a, b = tone(300, 0.0, 1.0), tone(1100, 1.0, 2.0)
    seq = a + b
    ests = np.stack([activity_gate(seq, [(0.0, 1.0)], FS, 320),
                     activity_gate(seq, [(1.0, 1.0)], FS, 320)])
    assert score_separation(np.stack([a, b]), ests, seq).si_sdri.min() > 20
    c = tone(1100, 0.0, 2.0)  # fully overlapped: gating keeps the whole mixture
    full = a + c
    ests = np.stack([activity_gate(full, [(0.0, 1.0)], FS, 320),
                     activity_gate(full, [(0.0, 2.0)], FS, 320)])
    assert abs(score_separation(np.stack([a, c]), ests, full).si_sdri[1]) < 1e-6


def test_ibm_separates_disjoint_spectra():
    a, c = tone(300, 0.0, 2.0), tone(2100, 0.0, 2.0)
    mix = a + c
    ests = ideal_binary_masks(mix, np.stack([a, c]), FS)
    assert ests.shape == (2, mix.size)
    assert score_separation(np.stack([a, c]), ests, mix).si_sdri.min() > 20
    assert ideal_binary_masks(mix, np.zeros((0, mix.size)), FS).shape == (0, mix.size)

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Round-trip properties of espnet_echo.data.labels (labels through cut and resampling)."""

import numpy as np
import pytest

from espnet_echo.data.labels import (
    AudioCut,
    Turn,
    clip_turns,
    cut_turns,
    merge_turns,
    resample_turns,
    samples_of,
    seconds_of,
    to_annotation,
    uncut_turns,
)
from espnet_echo.metrics.der import compute_der
from espnet_echo.utils.fileio import DataFileError


def _random_turns(rng, n, length, speakers=("a", "b", "c")):
    turns = []
    for i in range(n):
        start = int(rng.integers(0, length - 1))
        end = int(rng.integers(start + 1, min(length, start + length // 4) + 1))
        turns.append(Turn(str(rng.choice(speakers)), start, end, f"rttm:{i + 1}"))
    return turns


@pytest.mark.parametrize("seed", range(5))
def test_cut_into_a_partition_and_back_gives_the_originals(seed):
    rng = np.random.default_rng(seed)
    length = 100_000
    turns = _random_turns(rng, 30, length)
    bounds = [0, *sorted(rng.choice(np.arange(1, length), 6, replace=False)), length]
    back = []
    for begin, end in zip(bounds[:-1], bounds[1:]):
        part = cut_turns(turns, begin, end)
        assert all(0 <= t.start < t.end <= end - begin for t in part)
        back += uncut_turns(part, begin)
    # turns split at cut boundaries join again: the same speech per speaker
    assert merge_turns(back) == merge_turns(turns)


@pytest.mark.parametrize("seed", range(3))
def test_cut_of_seconds_keeps_what_lies_in_the_window(seed):
    rng = np.random.default_rng(seed)
    turns = [Turn(t.spk, t.start / 1000, t.end / 1000) for t in _random_turns(rng, 20, 6000)]
    part = cut_turns(turns, 1.5, 4.0)
    expected = {
        spk: [(max(a, 1.5) - 1.5, min(b, 4.0) - 1.5) for a, b in runs if b > 1.5 and a < 4.0]
        for spk, runs in merge_turns(turns).items()
    }
    got = merge_turns(part)
    assert got == {k: v for k, v in expected.items() if v}


@pytest.mark.parametrize("src, dst", [(8000, 16000), (16000, 48000), (22050, 16000 * 3)])
def test_resampling_up_maps_back_exactly(src, dst):
    rng = np.random.default_rng(src)
    turns = _random_turns(rng, 50, 10**6)
    up = resample_turns(turns, src, dst)
    back = resample_turns(up, dst, src)
    assert [(t.start, t.end) for t in back] == [(t.start, t.end) for t in turns]
    # the seconds of every turn are the same at both rates (to half a sample of dst)
    for a, b in zip(seconds_of(turns, src), seconds_of(up, dst)):
        assert abs(a.start - b.start) <= 0.5 / dst and abs(a.end - b.end) <= 0.5 / dst


@pytest.mark.parametrize("src, dst", [(16000, 8000), (44100, 16000)])
def test_resampling_down_maps_back_within_half_a_coarse_sample(src, dst):
    rng = np.random.default_rng(dst)
    turns = _random_turns(rng, 50, 10**6)
    down = resample_turns(turns, src, dst)
    back = resample_turns(down, dst, src)
    bound = 0.5 * src / dst + 0.5
    for a, b in zip(turns, back):
        assert abs(a.start - b.start) <= bound and abs(a.end - b.end) <= bound


def test_resample_clips_to_the_new_length():
    turns = [Turn("a", 10, 24000)]
    assert resample_turns(turns, 8000, 16000, num_samples=47990)[0].end == 47990


def test_seconds_and_samples_convert_both_ways():
    turns = [Turn("a", 3520, 19840), Turn("b", 24000, 45120)]
    sec = seconds_of(turns, 16000)
    assert [(t.start, t.end) for t in sec] == [(0.22, 1.24), (1.5, 2.82)]
    assert samples_of(sec, 16000, 48000) == turns


@pytest.mark.parametrize("seed", range(3))
def test_exact_hypothesis_scores_der_zero_after_cut_and_resample(seed):
    """The reference transformed like the audio, the hypothesis from the original turns."""
    rng = np.random.default_rng(seed)
    src, dst, length = 8000, 16000, 80_000
    turns = _random_turns(rng, 12, length)
    cut = AudioCut(rate=src, begin=12_345, length=40_000, rec_length=length)
    ref = resample_turns(
        cut_turns(turns, cut.begin, cut.begin + cut.length), src, dst, num_samples=80_000
    )
    # hypothesis: the original seconds turns, cut in seconds
    hyp = cut_turns(seconds_of(turns, src), cut.begin_s, cut.end_s)
    result = compute_der(
        {"u": to_annotation(ref, "u", fs=dst)},
        {"u": to_annotation(hyp, "u")},
        {"u": cut.length / src},
    )
    assert result.der == pytest.approx(0.0, abs=1e-9)
    assert result.scored_speech_s > 0


def test_clip_turns_tolerance():
    turns = [Turn("a", 0.0, 1.005, "rttm:1"), Turn("b", 0.5, 0.9, "rttm:2")]
    kept, clipped = clip_turns(turns, 1.0, 0.01, "x.wav")
    assert [t.end for t in kept] == [1.0, 0.9] and clipped == [turns[0]]
    with pytest.raises(DataFileError, match=r"rttm:1: turn 0.0..1.02 ends past the end of x"):
        clip_turns([Turn("a", 0.0, 1.02, "rttm:1")], 1.0, 0.01, "x.wav")

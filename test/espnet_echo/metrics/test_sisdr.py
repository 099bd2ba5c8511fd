# Copyright 2026 espnet-echo developers
#  Apache 2.0
import itertools

import numpy as np
import pytest

from espnet_echo.metrics.sisdr import (
    CLAMP_DB,
    SISDRStats,
    pairwise_si_sdr,
    pit_assignment,
    score_separation,
    si_sdr,
)

T = 8000


def _zero_mean(x):
    return x - x.mean(axis=-1, keepdims=True)


@pytest.fixture
def sig():
    rng = np.random.default_rng(0)
    return _zero_mean(rng.standard_normal((4, T)))


def _orthogonal(noise, s):
    return noise - (noise @ s) / (s @ s) * s


def test_si_sdr_scaled_copy_hits_clamp(sig):
    assert si_sdr(sig[0], 3.7 * sig[0]) == pytest.approx(CLAMP_DB, abs=1e-3)
    assert si_sdr(sig[0], -0.5 * sig[0]) == pytest.approx(CLAMP_DB, abs=1e-3)


def test_si_sdr_closed_form(sig):
    s = sig[0]
    e = _orthogonal(sig[1], s)
    e *= np.sqrt((s @ s) / (e @ e)) * 10 ** (-15 / 20)  # |s|^2 / |e|^2 = 15 dB
    assert si_sdr(s, s + e) == pytest.approx(15.0, abs=1e-6)
    assert si_sdr(s, 0.01 * (s + e)) == pytest.approx(15.0, abs=1e-6)  # scale-invariant
    assert si_sdr(s, s + e + 5.0) == pytest.approx(15.0, abs=1e-6)  # zero-mean
    assert si_sdr(s, np.zeros(T)) == pytest.approx(-CLAMP_DB, abs=1e-3)  # silent estimate


def test_pit_picks_permutation(sig):
    refs = sig[:3]
    perm = [2, 0, 1]
    ests = refs[perm] + 0.1 * sig[3]
    score = score_separation(refs, ests, refs.sum(0))
    # reference k is estimate perm.index(k)
    assert score.assignment == [perm.index(k) for k in range(3)]
    assert score.num_missed == 0 and score.num_false == 0
    assert np.all(score.si_sdr > 10)
    np.testing.assert_allclose(score.si_sdri, score.si_sdr - score.si_sdr_mix)


def test_pit_assignment_matches_exhaustive():
    rng = np.random.default_rng(1)
    for k, m in [(3, 3), (2, 4), (4, 2), (4, 4)]:
        mat = rng.normal(size=(k, m))
        assign = pit_assignment(mat)
        got = sum(mat[r, c] for r, c in enumerate(assign) if c is not None)
        if k <= m:  # every reference gets a distinct estimate
            best = max(sum(mat[r, c] for r, c in enumerate(cols))
                       for cols in itertools.permutations(range(m), k))
        else:  # every estimate gets a distinct reference
            best = max(sum(mat[r, c] for c, r in enumerate(rows))
                       for rows in itertools.permutations(range(k), m))
        assert got == pytest.approx(best)
        assert sum(c is not None for c in assign) == min(k, m)


def test_fewer_estimates_missed_source_scored_with_mixture(sig):
    refs, mix = sig[:2], sig[0] + sig[1]
    score = score_separation(refs, refs[1:2] * 2.0, mix)  # only source 2 estimated
    assert score.assignment == [None, 0]
    assert score.num_missed == 1 and score.num_false == 0
    assert score.si_sdr[0] == pytest.approx(score.si_sdr_mix[0])
    assert score.si_sdri[0] == 0.0
    assert score.si_sdr[1] == pytest.approx(CLAMP_DB, abs=1e-3)
    # mixture of two equal-power independent sources: SI-SDR(mix, s_k) ~ 0 dB
    assert abs(score.si_sdr_mix[0]) < 0.5


def test_more_estimates_counts_false_sources(sig):
    refs, mix = sig[:1], sig[0] + sig[1]
    score = score_separation(refs, np.stack([sig[1], sig[2], sig[0]]), mix)
    assert score.assignment == [2]
    assert score.num_missed == 0 and score.num_false == 2


def test_no_estimates_and_no_references(sig):
    mix = sig[0] + sig[1]
    score = score_separation(sig[:2], np.zeros((0, T)), mix)
    assert score.num_missed == 2 and np.all(score.si_sdri == 0)
    empty = score_separation(np.zeros((0, T)), sig[:1], mix)
    assert empty.assignment == [] and empty.num_false == 1


def test_length_mismatch(sig):
    with pytest.raises(ValueError, match="samples"):
        score_separation(sig[:2], sig[:2, :-1], sig[0])


def test_stats_mean_over_all_sources(sig):
    mix = sig[0] + sig[1]
    stats = SISDRStats()
    a = score_separation(sig[:2], sig[:2], mix)  # both perfect
    b = score_separation(sig[:1], np.zeros((0, T)), mix)  # missed: 0 dB improvement
    stats.add(a)
    stats.add(b, missing=True)
    d = stats.to_dict()
    assert d["num_sources"] == 3 and d["missed_sources"] == 1 and d["false_sources"] == 0
    assert d["num_utts"] == 2 and d["num_utts_missing"] == 1
    expect = (a.si_sdri.sum() + 0.0) / 3  # per source, not mean of per-utt means
    assert d["si_sdri"] == pytest.approx(expect)
    assert d["si_sdri_matched"] == pytest.approx(a.si_sdri.mean())


def test_pairwise_shape(sig):
    assert pairwise_si_sdr(sig[:2], sig[:3]).shape == (2, 3)

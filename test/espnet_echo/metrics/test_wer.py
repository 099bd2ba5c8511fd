# Copyright 2026 espnet-echo developers
#  Apache 2.0
import itertools

import pytest

from espnet_echo.metrics.wer import WERStats, cp_wer, pit_wer


def test_pit_wer_picks_min_error_assignment():
    # r0 <-> h1: "A B C" vs "A C" = 1 deletion; r1 <-> h0: "D E" vs "D E X" = 1 insertion
    stats, assign = pit_wer(["A B C", "D E"], ["D E X", "A C"])
    assert assign == [1, 0]
    assert (stats.errors, stats.ref_words) == (2, 5)
    assert (stats.insertions, stats.deletions, stats.substitutions) == (1, 1, 0)
    assert stats.wer == pytest.approx(40.0)


def test_fewer_hyps_unmatched_reference_is_all_deletions():
    stats, assign = pit_wer(["A B C", "D E"], ["D F"])
    # D F vs D E: 1 sub; A B C unmatched: 3 del
    assert assign == [None, 0]
    assert (stats.errors, stats.ref_words) == (4, 5)
    assert (stats.deletions, stats.substitutions) == (3, 1)
    assert (stats.missed_speakers, stats.false_speakers) == (1, 0)
    cp = cp_wer(["A B C", "D E"], ["D F"])
    assert (cp.errors, cp.ref_words, cp.missed_speakers, cp.false_speakers) == (4, 5, 1, 0)


def test_more_hyps_unmatched_hypothesis_is_all_insertions():
    stats, assign = pit_wer(["A B"], ["Z Z Z", "A B"])
    assert assign == [1]
    assert (stats.errors, stats.ref_words, stats.insertions) == (3, 2, 3)
    assert stats.wer == pytest.approx(150.0)
    cp = cp_wer(["A B"], ["Z Z Z", "A B"])
    assert (cp.errors, cp.false_speakers, cp.missed_speakers) == (3, 1, 0)


def test_empty_hypothesis_is_100_percent():
    stats, _ = pit_wer(["A B", "C D E"], [""])
    assert stats.wer == pytest.approx(100.0)
    assert cp_wer(["A B", "C D E"], [""]).wer == pytest.approx(100.0)
    assert pit_wer([], [])[0].wer is None


def test_pit_wer_equals_meeteval_cpwer():
    words = "A B C D E F".split()
    texts = [" ".join(words[i:i + n]) for i in range(4) for n in (0, 1, 3)]
    for refs, hyps in itertools.islice(
        itertools.product(
            itertools.combinations(texts[:6], 2), itertools.combinations(texts, 3)
        ),
        0, None, 37,
    ):
        stats, _ = pit_wer(list(refs), list(hyps))
        cp = cp_wer(list(refs), list(hyps))
        assert (stats.errors, stats.ref_words) == (cp.errors, cp.ref_words)


def test_stats_are_summed_not_averaged():
    a, _ = pit_wer(["A B C D"], ["A B C D"])  # 0 / 4
    b, _ = pit_wer(["A"], ["B"])  # 1 / 1
    total = a + b
    assert total.wer == pytest.approx(20.0)  # 1 / 5, not mean(0, 100)
    assert total.num_utts == 2
    assert total.to_dict()["wer"] == pytest.approx(20.0)
    assert isinstance(total, WERStats)

# Copyright 2026 espnet-echo developers
#  Apache 2.0
import pytest

from espnet_echo.metrics.speaker_count import speaker_count_stats


def test_speaker_count_accuracy_and_mae():
    ref = {"a": 2, "b": 3, "c": 1, "d": 2}
    hyp = {"a": 2, "b": 1, "c": 2}  # d missing -> K_hat = 0
    s = speaker_count_stats(ref, hyp)
    assert s.accuracy == pytest.approx(25.0)
    assert s.mean_abs_error == pytest.approx((0 + 2 + 1 + 2) / 4)
    assert (s.num_over, s.num_under, s.num_utts_missing) == (1, 2, 1)
    d = s.to_dict()
    assert d["confusion"] == {"1": {"2": 1}, "2": {"0": 1, "2": 1}, "3": {"1": 1}}


def test_speaker_count_empty_and_unknown():
    assert speaker_count_stats({}, {}).accuracy is None
    with pytest.raises(ValueError, match="not in the reference"):
        speaker_count_stats({"a": 1}, {"b": 1})

# Copyright 2026 espnet-echo developers
#  Apache 2.0
import numpy as np
import pytest

from espnet_echo.ssl.factorisation import chance_accuracy, knn_accuracy


def _crossed(rng, num_spk=4, num_sent=3, reps=1, spk_scale=1.0, con_scale=0.0):
    """Items crossing speakers and sentences; features = scaled factor means + noise."""
    spk_means = rng.normal(size=(num_spk, 16))
    con_means = rng.normal(size=(num_sent, 16))
    feats, spk, con = [], [], []
    for s in range(num_spk):
        for c in range(num_sent):
            for _ in range(reps):
                feats.append(
                    spk_scale * spk_means[s] + con_scale * con_means[c]
                    + 0.05 * rng.normal(size=16)
                )
                spk.append(f"s{s}")
                con.append(f"c{c}")
    return np.stack(feats), spk, con


def test_knn_finds_the_factor_the_features_carry():
    rng = np.random.default_rng(0)
    x, spk, con = _crossed(rng, spk_scale=1.0, con_scale=0.0)
    assert knn_accuracy(x, spk) == 100.0
    # the speaker-only features know nothing of the sentence: below chance-level hits
    assert knn_accuracy(x, con) < 50.0
    y, spk, con = _crossed(rng, spk_scale=0.0, con_scale=1.0)
    assert knn_accuracy(y, con) == 100.0
    assert knn_accuracy(y, spk) < 50.0


def test_knn_leave_one_out_never_matches_itself():
    # two items, different labels: the only neighbour is the other item -> 0 %
    assert knn_accuracy(np.array([[1.0, 0.0], [1.0, 0.1]]), ["a", "b"]) == 0.0
    assert knn_accuracy(np.array([[1.0, 0.0], [1.0, 0.1]]), ["a", "a"]) == 100.0


def test_knn_majority_vote_and_tie_break():
    x = np.array([[1.0, 0.0], [0.99, 0.1], [0.98, 0.2], [0.0, 1.0]])
    labels = ["a", "a", "b", "b"]
    # k=3 for item 0: neighbours 1 (a), 2 (b), 3 (b) -> b wins 2:1
    assert knn_accuracy(x, labels, k=1) == 50.0
    assert knn_accuracy(x, labels, k=3) < knn_accuracy(x, labels, k=1) + 1e-9


@pytest.mark.parametrize(
    "x, labels, k, match",
    [
        (np.ones((1, 2)), ["a"], 1, "at least 2"),
        (np.ones((3, 2)), ["a", "b"], 1, r"\(N, D\)"),
        (np.ones((3, 2)), ["a", "b", "c"], 3, "k must be"),
        (np.array([[1.0, np.nan], [1.0, 0.0]]), ["a", "b"], 1, "NaN"),
        (np.array([[0.0, 0.0], [1.0, 0.0]]), ["a", "b"], 1, "all zero"),
    ],
)
def test_knn_bad_input(x, labels, k, match):
    with pytest.raises(ValueError, match=match):
        knn_accuracy(x, labels, k)


def test_chance_accuracy():
    # 2 balanced classes of 2: the other item of the same class is 1 of 3 -> 1/3
    assert chance_accuracy(["a", "a", "b", "b"]) == pytest.approx(100 / 3)
    # 3 a + 1 b: each a hits with 2/3, b with 0/3
    assert chance_accuracy(["a", "a", "a", "b"]) == pytest.approx(100 * (3 * 2 / 3) / 4)
    # all different: never right; one item: 0
    assert chance_accuracy(["a", "b", "c"]) == 0.0
    assert chance_accuracy(["a"]) == 0.0
    # 21 balanced speakers x 12 items: about 1/21
    labels = [f"s{i}" for i in range(21) for _ in range(12)]
    assert chance_accuracy(labels) == pytest.approx(100 * 11 / 251)

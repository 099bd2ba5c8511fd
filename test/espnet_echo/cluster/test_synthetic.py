# Copyright 2026 espnet-echo developers
#  Apache 2.0
import numpy as np
import pytest

from espnet_echo.cluster.synthetic import (
    SyntheticSpeakers,
    clustering_accuracy,
    sticky_turns,
)


def test_population_follows_two_covariance_model():
    world = SyntheticSpeakers(dim=4, seed=1)
    rng = np.random.default_rng(0)
    means = world.speaker_means(20000, rng)
    np.testing.assert_allclose(np.cov(means.T), world.between_cov,
                               atol=0.05 * world.between_var.max())
    labels = np.zeros(20000, dtype=np.int64)
    emb = world.embeddings(means[:1], labels, rng, noise=2.0)
    np.testing.assert_allclose(np.cov(emb.T), 4 * world.within_cov, atol=0.2)
    x, y = world.training_set(5, 3, rng)
    assert x.shape == (15, 4) and y.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    np.testing.assert_array_equal(
        SyntheticSpeakers(dim=4, seed=1).offset, world.offset
    )
    with pytest.raises(ValueError, match="dim must be >= 2"):
        SyntheticSpeakers(dim=1)


def test_sticky_turns():
    rng = np.random.default_rng(2)
    labels = sticky_turns(4, 20000, 0.9, rng)
    assert sorted(set(labels)) == [0, 1, 2, 3]
    stays = np.mean(labels[1:] == labels[:-1])
    assert stays == pytest.approx(0.9, abs=0.01)
    assert sticky_turns(1, 5, 0.5, rng).tolist() == [0] * 5
    with pytest.raises(ValueError, match="num_speakers <= num_windows"):
        sticky_turns(3, 2, 0.5, rng)


def test_clustering_accuracy():
    ref = np.array([0, 0, 1, 1, 2, 2])
    assert clustering_accuracy(ref, np.array([2, 2, 0, 0, 1, 1])) == 1.0
    assert clustering_accuracy(ref, np.array([0, 0, 0, 0, 1, 1])) == pytest.approx(4 / 6)
    assert clustering_accuracy(ref, np.array([0, 1, 2, 3, 4, 5])) == pytest.approx(3 / 6)
    assert clustering_accuracy(np.zeros(0, int), np.zeros(0, int)) == 1.0
    with pytest.raises(ValueError, match="lengths differ"):
        clustering_accuracy(ref, ref[:3])

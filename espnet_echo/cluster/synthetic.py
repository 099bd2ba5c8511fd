# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Synthetic speaker-embedding sequences with known speakers and sticky turns.

Used by the tests of :mod:`espnet_echo.cluster` and by ``bench/vbx_speed.py``. The
embeddings follow the two-covariance model that PLDA assumes (speaker mean plus
within-speaker noise), in a random orientation with an offset:

    x_t = offset + Q diag(sqrt(b)) u_s + noise * R diag(sqrt(w)) e_t,  u_s, e_t ~ N(0, I),

with ``Q``, ``R`` random rotations, between-speaker variances ``b`` log-uniform in
``between_range`` and within-speaker variances ``w`` uniform in ``within_range``.
Speaker turns are a Markov chain that stays with the current speaker with probability
``p_stay`` per window and otherwise moves to one of the others uniformly.
"""

from typing import Tuple

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import ortho_group
from typeguard import typechecked


class SyntheticSpeakers:
    """A population of synthetic speakers in ``dim`` dimensions."""

    @typechecked
    def __init__(
        self,
        dim: int = 32,
        seed: int = 0,
        between_range: Tuple[float, float] = (0.05, 4.0),
        within_range: Tuple[float, float] = (0.5, 1.5),
        offset_scale: float = 2.0,
    ):
        """Draw the population's covariances and offset.

        Args:
            dim: Embedding dimension D, >= 2.
            seed: Seed of the population (rotations, variances, offset).
            between_range: Range of the between-speaker variances (log-uniform), > 0.
            within_range: Range of the within-speaker variances (uniform), > 0.
            offset_scale: Standard deviation of the common offset's coordinates.

        Raises:
            ValueError: ``dim < 2`` or non-positive variance ranges.
        """
        if dim < 2:
            raise ValueError(f"dim must be >= 2, got {dim}")
        if min(between_range) <= 0 or min(within_range) <= 0:
            raise ValueError(
                f"variance ranges must be positive, got {between_range}, {within_range}"
            )
        rng = np.random.default_rng(seed)
        rot_b = ortho_group.rvs(dim, random_state=rng)
        rot_w = ortho_group.rvs(dim, random_state=rng)
        lo, hi = np.log(between_range)
        self.between_var = np.exp(rng.uniform(lo, hi, dim))
        self.within_var = rng.uniform(*within_range, dim)
        self._between_sqrt = rot_b * np.sqrt(self.between_var)  # (D, D)
        self._within_sqrt = rot_w * np.sqrt(self.within_var)
        self.offset = rng.normal(size=dim) * offset_scale
        self.dim = dim

    @property
    def between_cov(self) -> np.ndarray:
        """True between-speaker covariance (D, D)."""
        return self._between_sqrt @ self._between_sqrt.T

    @property
    def within_cov(self) -> np.ndarray:
        """True within-speaker covariance (D, D) at ``noise=1``."""
        return self._within_sqrt @ self._within_sqrt.T

    def speaker_means(self, num_speakers: int, rng: np.random.Generator) -> np.ndarray:
        """Draw new speakers.

        Args:
            num_speakers: K.
            rng: Random generator.

        Returns:
            Speaker means (K, D).
        """
        return self.offset + rng.normal(size=(num_speakers, self.dim)) @ self._between_sqrt.T

    def embeddings(
        self, means: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
        noise: float = 1.0,
    ) -> np.ndarray:
        """Embeddings of the given speakers.

        Args:
            means: Speaker means (K, D).
            labels: Speaker of each window (N,), in ``[0, K)``.
            rng: Random generator.
            noise: Scale of the within-speaker noise (standard-deviation factor).

        Returns:
            Embeddings (N, D).
        """
        eps = rng.normal(size=(len(labels), self.dim)) @ self._within_sqrt.T
        return means[labels] + noise * eps

    def training_set(
        self, num_speakers: int, per_speaker: int, rng: np.random.Generator
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Labelled training embeddings of new speakers (e.g. to fit a PLDA).

        Args:
            num_speakers: S.
            per_speaker: Embeddings per speaker.
            rng: Random generator.

        Returns:
            Embeddings (S * per_speaker, D) and speaker labels (S * per_speaker,).
        """
        labels = np.repeat(np.arange(num_speakers), per_speaker)
        return self.embeddings(self.speaker_means(num_speakers, rng), labels, rng), labels


def sticky_turns(
    num_speakers: int, num_windows: int, p_stay: float, rng: np.random.Generator
) -> np.ndarray:
    """Speaker of each window from a sticky Markov chain in which every speaker speaks.

    Args:
        num_speakers: K >= 1.
        num_windows: N >= K.
        p_stay: Probability of keeping the speaker from one window to the next, in
            [0, 1) (1 is allowed only for K = 1).
        rng: Random generator.

    Returns:
        Labels (N,) in ``[0, K)``, each value present.

    Raises:
        ValueError: ``num_windows < num_speakers``, or no sequence using all K speakers
            was drawn in 1000 tries.
    """
    if num_speakers < 1 or num_windows < num_speakers:
        raise ValueError(
            f"need 1 <= num_speakers <= num_windows, got {num_speakers}, {num_windows}"
        )
    for _ in range(1000):
        labels = np.empty(num_windows, dtype=np.int64)
        labels[0] = rng.integers(num_speakers)
        moves = rng.random(num_windows) >= p_stay
        steps = rng.integers(1, max(num_speakers, 2), size=num_windows)
        for t in range(1, num_windows):
            labels[t] = labels[t - 1]
            if moves[t] and num_speakers > 1:
                labels[t] = (labels[t] + steps[t]) % num_speakers
        if len(np.unique(labels)) == num_speakers:
            return labels
    raise ValueError(
        f"no sequence with all {num_speakers} speakers in {num_windows} windows at "
        f"p_stay={p_stay}"
    )


def clustering_accuracy(reference: np.ndarray, hypothesis: np.ndarray) -> float:
    """Fraction of windows whose cluster maps to their speaker, under the best one-to-one
    mapping of clusters to speakers (Hungarian algorithm); extra clusters count as errors.

    Args:
        reference: True speaker of each window (N,), non-negative ints.
        hypothesis: Cluster of each window (N,), non-negative ints.

    Returns:
        Accuracy in [0, 1] (1.0 for N = 0).
    """
    if len(reference) != len(hypothesis):
        raise ValueError(f"lengths differ: {len(reference)} vs {len(hypothesis)}")
    if len(reference) == 0:
        return 1.0
    counts = np.zeros((reference.max() + 1, hypothesis.max() + 1))
    np.add.at(counts, (reference, hypothesis), 1)
    rows, cols = linear_sum_assignment(-counts)
    return float(counts[rows, cols].sum() / len(reference))

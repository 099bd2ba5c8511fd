# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""SI-SDR and SI-SDR improvement with permutation-invariant matching for any K and K̂.

SI-SDR is computed with ``fast_bss_eval`` (as ESPnet's ``SISNRLoss`` does): zero-mean
signals, ``10 log10(|a s|^2 / |a s - s_hat|^2)`` with the optimal scale ``a``, clamped to
``[-CLAMP_DB, CLAMP_DB]`` so that a perfect estimate (SI-SDR = +inf) and a silent
estimate (undefined, -inf in the limit) stay finite.

Convention when the estimated count K̂ differs from the reference count K:
    The pairwise SI-SDR matrix (K x K̂) is solved for the one-to-one assignment that
    maximises the summed SI-SDR (``scipy.optimize.linear_sum_assignment``, exact for any
    K, K̂). A reference source left without an estimate (K̂ < K) is a *missed source*: it
    is scored with the unprocessed mixture as its estimate, i.e. SI-SDR = SI-SDR(mix,
    ref) and SI-SDRi = 0 dB. It stays in the mean, so every system is averaged over the
    same set of reference sources and under-counting is never rewarded by dropping hard
    sources. An estimate left without a reference (K̂ > K) is a *false source*: counted,
    not scored (there is nothing to compare it with). Both counts are reported.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional

import fast_bss_eval
import numpy as np
from scipy.optimize import linear_sum_assignment

CLAMP_DB = 100.0


def pairwise_si_sdr(
    refs: np.ndarray, ests: np.ndarray, zero_mean: bool = True, clamp_db: float = CLAMP_DB
) -> np.ndarray:
    """SI-SDR in dB of every (reference, estimate) pair.

    Args:
        refs: ``(K, T)`` reference sources.
        ests: ``(M, T)`` estimates, ``M >= 1``.
        zero_mean: Subtract each signal's mean first (ESPnet's SI-SNR convention).
        clamp_db: Results are clamped to ``[-clamp_db, clamp_db]``.

    Returns:
        ``(K, M)`` float64 matrix, entry ``[k, m]`` = SI-SDR(ests[m], refs[k]).
    """
    refs = np.atleast_2d(np.asarray(refs, dtype=np.float64))
    ests = np.atleast_2d(np.asarray(ests, dtype=np.float64))
    if refs.shape[-1] != ests.shape[-1]:
        raise ValueError(
            f"length mismatch: references have {refs.shape[-1]} samples, "
            f"estimates {ests.shape[-1]}"
        )
    neg = fast_bss_eval.si_sdr_loss(
        ests, refs, zero_mean=zero_mean, clamp_db=clamp_db, pairwise=True
    )
    return -np.asarray(neg, dtype=np.float64)


def si_sdr(ref: np.ndarray, est: np.ndarray, zero_mean: bool = True,
           clamp_db: float = CLAMP_DB) -> float:
    """SI-SDR in dB of one estimate against one reference (1-D signals of equal length)."""
    return float(pairwise_si_sdr(ref, est, zero_mean, clamp_db)[0, 0])


def pit_assignment(scores: np.ndarray) -> List[Optional[int]]:
    """One-to-one assignment of columns (estimates) to rows (references) maximising the sum.

    Args:
        scores: ``(K, M)`` score matrix (higher is better); K and M may differ.

    Returns:
        For each row k, the matched column index, or None when ``M < K`` leaves it out.
    """
    scores = np.asarray(scores, dtype=np.float64)
    out: List[Optional[int]] = [None] * scores.shape[0]
    if scores.size == 0:
        return out
    rows, cols = linear_sum_assignment(scores, maximize=True)
    for r, c in zip(rows, cols):
        out[int(r)] = int(c)
    return out


def _as_2d(x: np.ndarray, length: int, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return np.zeros((0, length))
    x = np.atleast_2d(x)
    if x.ndim != 2 or x.shape[1] != length:
        raise ValueError(f"{name} signals have shape {x.shape}, the mixture {length} samples")
    return x


@dataclass
class SeparationScore:
    """Scores of one utterance.

    Attributes:
        si_sdr: ``(K,)`` SI-SDR of each reference source's estimate (the mixture for a
            missed source).
        si_sdr_mix: ``(K,)`` SI-SDR of the mixture against each reference source.
        assignment: For each reference source, the index of its estimate or None.
        num_estimates: K̂, the number of estimates given.
    """

    si_sdr: np.ndarray
    si_sdr_mix: np.ndarray
    assignment: List[Optional[int]]
    num_estimates: int

    @property
    def si_sdri(self) -> np.ndarray:
        """``(K,)`` SI-SDR improvement over the mixture (0 for missed sources)."""
        return self.si_sdr - self.si_sdr_mix

    @property
    def num_missed(self) -> int:
        """Reference sources without an estimate."""
        return sum(a is None for a in self.assignment)

    @property
    def num_false(self) -> int:
        """Estimates without a reference source."""
        return self.num_estimates - sum(a is not None for a in self.assignment)


def score_separation(
    refs: np.ndarray, ests: np.ndarray, mix: np.ndarray, clamp_db: float = CLAMP_DB
) -> SeparationScore:
    """PIT SI-SDR / SI-SDRi of one utterance (see the module docstring for K̂ != K).

    Args:
        refs: ``(K, T)`` reference sources (K may be 0).
        ests: ``(K̂, T)`` estimates (K̂ may be 0).
        mix: ``(T,)`` mixture; the estimate of missed sources and the SI-SDRi baseline.
        clamp_db: SI-SDR clamp in dB.

    Returns:
        :class:`SeparationScore`.

    Raises:
        ValueError: the signals do not all have the same length.
    """
    mix = np.asarray(mix, dtype=np.float64).reshape(-1)
    refs = _as_2d(refs, mix.shape[0], "reference")
    ests = _as_2d(ests, mix.shape[0], "estimate")
    num_ref, num_est = refs.shape[0], ests.shape[0]
    if num_ref == 0:
        return SeparationScore(np.zeros(0), np.zeros(0), [], num_est)
    # One call for estimates and mixture: the mixture column is computed exactly like an
    # estimate, so a missed source (scored with the mixture) gets SI-SDRi == 0.
    matrix = pairwise_si_sdr(refs, np.concatenate([ests, mix[None]]), clamp_db=clamp_db)
    est_scores, mix_scores = matrix[:, :num_est], matrix[:, num_est]
    assignment = pit_assignment(est_scores)
    sdr = np.array(
        [mix_scores[k] if m is None else est_scores[k, m] for k, m in enumerate(assignment)]
    )
    return SeparationScore(sdr, mix_scores.copy(), assignment, num_est)


@dataclass
class SISDRStats:
    """Corpus-level separation statistics, accumulated over utterances.

    Means are over all reference sources of all utterances (missed ones included, with
    the mixture as estimate); ``*_matched`` means are over matched sources only.
    """

    num_utts: int = 0
    num_sources: int = 0
    num_missed: int = 0
    num_false: int = 0
    sum_si_sdr: float = 0.0
    sum_si_sdri: float = 0.0
    sum_si_sdr_matched: float = 0.0
    sum_si_sdri_matched: float = 0.0
    num_utts_missing: int = 0
    clamp_db: float = CLAMP_DB

    def add(self, score: SeparationScore, missing: bool = False) -> None:
        """Accumulate one utterance.

        Args:
            score: The utterance's scores.
            missing: The hypothesis had no entry for this utterance (scored with K̂ = 0);
                counted in ``num_utts_missing``.
        """
        self.num_utts_missing += int(missing)
        matched = np.array([a is not None for a in score.assignment], dtype=bool)
        self.num_utts += 1
        self.num_sources += len(score.assignment)
        self.num_missed += score.num_missed
        self.num_false += score.num_false
        self.sum_si_sdr += float(np.sum(score.si_sdr))
        self.sum_si_sdri += float(np.sum(score.si_sdri))
        self.sum_si_sdr_matched += float(np.sum(score.si_sdr[matched]))
        self.sum_si_sdri_matched += float(np.sum(score.si_sdri[matched]))

    def to_dict(self) -> Dict[str, object]:
        """JSON-ready summary; means in dB are None when nothing was scored."""
        n, nm = self.num_sources, self.num_sources - self.num_missed
        return {
            "si_sdr": self.sum_si_sdr / n if n else None,
            "si_sdri": self.sum_si_sdri / n if n else None,
            "si_sdr_matched": self.sum_si_sdr_matched / nm if nm else None,
            "si_sdri_matched": self.sum_si_sdri_matched / nm if nm else None,
            "num_sources": n,
            "missed_sources": self.num_missed,
            "false_sources": self.num_false,
            "num_utts": self.num_utts,
            "num_utts_missing": self.num_utts_missing,
            "clamp_db": self.clamp_db,
        }

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Speaker-count accuracy and mean absolute count error.

``pyannote.metrics.diarization.DiarizationSpeakerCountAccuracy`` / ``...CountError``
compute the same two numbers from the label sets of two Annotations; here K̂ comes from
the hypothesis ``utt2num_spk`` (the model's count, which also covers systems without a
diarization output), so the integers are compared directly.
"""

from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional


@dataclass
class SpeakerCountStats:
    """Accumulated speaker-count statistics.

    Attributes:
        num_utts: Utterances scored.
        num_correct: Utterances with K̂ == K.
        sum_abs_error: Sum of |K̂ - K|.
        num_over: Utterances with K̂ > K.
        num_under: Utterances with K̂ < K.
        num_utts_missing: Utterances the hypothesis had no count for (scored as K̂ = 0).
        confusion: ``confusion[K][K̂]`` = number of utterances.
    """

    num_utts: int = 0
    num_correct: int = 0
    sum_abs_error: int = 0
    num_over: int = 0
    num_under: int = 0
    num_utts_missing: int = 0
    confusion: Dict[int, Dict[int, int]] = field(default_factory=dict)

    def add(self, k_ref: int, k_hat: int, missing: bool = False) -> None:
        """Accumulate one utterance with reference count ``k_ref`` and estimate ``k_hat``."""
        self.num_utts += 1
        self.num_correct += int(k_hat == k_ref)
        self.sum_abs_error += abs(k_hat - k_ref)
        self.num_over += int(k_hat > k_ref)
        self.num_under += int(k_hat < k_ref)
        self.num_utts_missing += int(missing)
        row = self.confusion.setdefault(int(k_ref), {})
        row[int(k_hat)] = row.get(int(k_hat), 0) + 1

    @property
    def accuracy(self) -> Optional[float]:
        """Percentage of utterances with the right count (None when empty)."""
        return 100.0 * self.num_correct / self.num_utts if self.num_utts else None

    @property
    def mean_abs_error(self) -> Optional[float]:
        """Mean |K̂ - K| over utterances (None when empty)."""
        return self.sum_abs_error / self.num_utts if self.num_utts else None

    def to_dict(self) -> Dict[str, object]:
        """JSON-ready dict; confusion keys are strings (``{"2": {"1": 3}}``: K=2, K̂=1)."""
        return {
            "accuracy": self.accuracy,
            "mean_abs_error": self.mean_abs_error,
            "num_utts": self.num_utts,
            "num_correct": self.num_correct,
            "num_over": self.num_over,
            "num_under": self.num_under,
            "num_utts_missing": self.num_utts_missing,
            "confusion": {
                str(k): {str(h): n for h, n in sorted(row.items())}
                for k, row in sorted(self.confusion.items())
            },
        }


def speaker_count_stats(
    reference: Mapping[str, int], hypothesis: Mapping[str, int]
) -> SpeakerCountStats:
    """Score K̂ against K over the reference utterances.

    Args:
        reference: ``{utt: K}``; its keys are the utterances scored.
        hypothesis: ``{utt: K̂}``; an utterance absent here is scored as K̂ = 0 (the system
            reported no speaker) and counted in ``num_utts_missing``.

    Returns:
        :class:`SpeakerCountStats`.

    Raises:
        ValueError: a hypothesis utterance is not in ``reference``.
    """
    unknown = sorted(set(hypothesis) - set(reference))
    if unknown:
        raise ValueError(f"hypothesis utterances not in the reference: {unknown[:5]}")
    stats = SpeakerCountStats()
    for utt, k in reference.items():
        stats.add(int(k), int(hypothesis.get(utt, 0)), missing=utt not in hypothesis)
    return stats

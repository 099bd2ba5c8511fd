# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Multi-speaker WER: per-speaker WER after PIT, and cpWER with ``meeteval``.

Both score each utterance as the assignment of hypothesis outputs to reference speakers
that minimises the total number of word errors, an unmatched side being scored against
the empty string: an unmatched reference (K̂ < K) contributes deletions, an unmatched
hypothesis (K̂ > K) insertions. Corpus numbers are summed errors over summed reference
words, never a mean of per-utterance rates.

* :func:`pit_wer` is ours: pairwise word edit distances
  (``meeteval.wer.wer.siso.siso_word_error_rate``, i.e. kaldialign) and the exact
  minimum-cost assignment (``scipy.optimize.linear_sum_assignment``).
* :func:`cp_wer` is ``meeteval.wer.wer.cp.cp_word_error_rate``, the CHiME-6 cpWER
  (speaker-wise concatenation, then the minimum-error permutation).

With this project's contract (one whole-utterance transcript per speaker) the two are the
same number by definition; ``cp_wer`` is the field-standard implementation and also
counts missed / false speakers, ``pit_wer`` gives the assignment. A disagreement between
them is a bug.
"""

from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from meeteval.wer.wer.cp import cp_word_error_rate
from meeteval.wer.wer.siso import siso_word_error_rate
from scipy.optimize import linear_sum_assignment


@dataclass
class WERStats:
    """Summable word-error counts.

    Attributes:
        errors: insertions + deletions + substitutions.
        ref_words: Number of reference words.
        insertions, deletions, substitutions: Error counts.
        missed_speakers: Reference speakers without a hypothesis output (max(0, K - K̂)).
        false_speakers: Hypothesis outputs without a reference speaker (max(0, K̂ - K)).
        num_utts: Utterances accumulated.
        num_utts_missing: Utterances the hypothesis had no entry for (scored with K̂ = 0).
    """

    errors: int = 0
    ref_words: int = 0
    insertions: int = 0
    deletions: int = 0
    substitutions: int = 0
    missed_speakers: int = 0
    false_speakers: int = 0
    num_utts: int = 0
    num_utts_missing: int = 0

    def __add__(self, other: "WERStats") -> "WERStats":
        mine, theirs = asdict(self), asdict(other)
        return WERStats(**{k: mine[k] + theirs[k] for k in mine})

    @property
    def wer(self) -> Optional[float]:
        """Word error rate in percent (None without reference words)."""
        return 100.0 * self.errors / self.ref_words if self.ref_words else None

    def to_dict(self) -> Dict[str, object]:
        """JSON-ready dict with ``wer`` (%) first, then the counts."""
        return {"wer": self.wer, **asdict(self)}


def _words(text: str) -> str:
    return " ".join(text.split())


def pit_wer(refs: Sequence[str], hyps: Sequence[str]) -> Tuple[WERStats, List[Optional[int]]]:
    """Per-speaker WER of one utterance after the minimum-error assignment.

    Args:
        refs: K reference transcripts.
        hyps: K̂ hypothesis transcripts (empty strings allowed).

    Returns:
        ``(stats, assignment)`` where ``assignment[k]`` is the hypothesis index matched to
        reference k, or None when K̂ < K leaves it unmatched.
    """
    refs, hyps = [_words(r) for r in refs], [_words(h) for h in hyps]
    n = max(len(refs), len(hyps))
    stats = WERStats(
        num_utts=1,
        missed_speakers=max(0, len(refs) - len(hyps)),
        false_speakers=max(0, len(hyps) - len(refs)),
    )
    if n == 0:
        return stats, []
    # Square problem: missing sides padded with empty strings.
    pad_r, pad_h = refs + [""] * (n - len(refs)), hyps + [""] * (n - len(hyps))
    pairs = [[siso_word_error_rate(r, h) for h in pad_h] for r in pad_r]
    cost = np.array([[er.errors for er in row] for row in pairs])
    rows, cols = linear_sum_assignment(cost)
    assignment: List[Optional[int]] = [None] * len(refs)
    for r, c in zip(rows, cols):
        er = pairs[r][c]
        stats.errors += er.errors
        stats.ref_words += er.length
        stats.insertions += er.insertions
        stats.deletions += er.deletions
        stats.substitutions += er.substitutions
        if r < len(refs) and c < len(hyps):
            assignment[r] = int(c)
    return stats, assignment


def cp_wer(refs: Sequence[str], hyps: Sequence[str]) -> WERStats:
    """cpWER of one utterance with ``meeteval`` (see module docstring).

    Args:
        refs: K reference transcripts, one per speaker.
        hyps: K̂ hypothesis transcripts, one per output (empty strings allowed).

    Returns:
        :class:`WERStats` with missed/false speaker counts from meeteval.
    """
    er = cp_word_error_rate(
        {f"r{k}": _words(t) for k, t in enumerate(refs)},
        {f"h{k}": _words(t) for k, t in enumerate(hyps)},
        reference_sort=False,
        hypothesis_sort=False,
    )
    return WERStats(
        errors=er.errors,
        ref_words=er.length,
        insertions=er.insertions,
        deletions=er.deletions,
        substitutions=er.substitutions,
        missed_speakers=er.missed_speaker,
        false_speakers=er.falarm_speaker,
        num_utts=1,
    )

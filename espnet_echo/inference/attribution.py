# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tie the heads' slots to the diarization speakers, so speaker ``k`` is one person.

The diarization, separation and ASR heads each have their own permutation-free slots:
slot 1 of the separation head need not be slot 1 of the ASR head, nor speaker 1 of
the diarization. Before a result is built, every separation and ASR slot is matched
to a diarization speaker by **activity overlap**, window by window:

* the **speaker activity** is the diarization's binary activity of each speaker over
  the window's frames, (T, K);
* a **slot's activity** is what that slot says about when its speaker talks: for a
  separation slot, its RMS envelope per encoder frame (:func:`frame_envelope`); for an
  ASR slot, its non-blank CTC posterior per frame (the head's ``token_activity``);
* the similarity of slot ``s`` and speaker ``k`` is the cosine of the two activities
  over the window's frames (:func:`activity_similarity`), and the slots are assigned to
  the speakers active in the window by the exact maximal-similarity one-to-one
  assignment of :func:`espnet_echo.layers.pit.pit_assign` (the one PIT utility) —
  :func:`match_slots`. Speakers not active in the window get no slot there (their
  track is silent and they say nothing there); when more speakers are active than
  there are slots, the speakers with the most active frames are matched. A slot
  matched to nobody is dropped (a separation or ASR null slot).

This is the "activity overlap" rule of the issue; it needs no training signal beyond
the heads' own outputs, and for a one-speaker window it picks the slot that is loud
(or speaks) when that speaker does.

Words (:func:`tokens_to_words`): an ASR slot's tokens are grouped into words by the
tokenizer's own word boundary (``▁`` of sentencepiece pieces, ``<space>`` of
characters, every token for words), and a word's time is the CTC frame of its first
token to one frame after its last token's frame (CTC emits a token near its acoustic
onset, in one frame: these are spike times, good to a few frames).
"""

from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from espnet_echo.inference.result import Word
from espnet_echo.layers.pit import pit_assign


def frame_envelope(sources: np.ndarray, frame_shift: int, num_frames: int) -> np.ndarray:
    """RMS of each slot per encoder frame.

    Args:
        sources: Slot waveforms (S, N).
        frame_shift: Samples per encoder frame.
        num_frames: T, the frames to return (samples past N count as zero).

    Returns:
        (T, S) float32.
    """
    s, n = sources.shape
    want = num_frames * frame_shift
    x = np.zeros((s, want), dtype=np.float32)
    x[:, : min(n, want)] = sources[:, :want]
    return np.sqrt((x.reshape(s, num_frames, frame_shift) ** 2).mean(-1)).T


def activity_similarity(slot_activity: np.ndarray, speaker_activity: np.ndarray) -> np.ndarray:
    """Cosine similarity of every slot activity with every speaker activity.

    Args:
        slot_activity: (T, S), non-negative.
        speaker_activity: (T, K), non-negative.

    Returns:
        (S, K) in [0, 1]; 0 for an all-zero activity.

    Raises:
        ValueError: the two do not have the same number of frames.
    """
    if slot_activity.ndim != 2 or speaker_activity.ndim != 2 or (
        slot_activity.shape[0] != speaker_activity.shape[0]
    ):
        raise ValueError(
            f"need slot activity (T, S) and speaker activity (T, K) over the same "
            f"frames, got {slot_activity.shape} and {speaker_activity.shape}"
        )
    a = np.asarray(slot_activity, dtype=np.float64)
    b = np.asarray(speaker_activity, dtype=np.float64)
    num = a.T @ b
    den = np.linalg.norm(a, axis=0)[:, None] * np.linalg.norm(b, axis=0)[None, :]
    return np.where(den > 0, num / np.maximum(den, 1e-12), 0.0)


def match_slots(slot_activity: np.ndarray, speaker_activity: np.ndarray) -> np.ndarray:
    """The slot of each speaker in one window (rule: module docstring).

    Args:
        slot_activity: (T, S) activity of the head's slots.
        speaker_activity: (T, K) diarization activity of the speakers (0/1).

    Returns:
        (K,) int64: the slot of speaker ``k``, or -1 (not active in the window, or
        more active speakers than slots and ``k`` among the least active).
    """
    k_all = speaker_activity.shape[1]
    out = np.full(k_all, -1, dtype=np.int64)
    n_slots = slot_activity.shape[1]
    frames = (np.asarray(speaker_activity) > 0).sum(0)
    active = [k for k in np.argsort(-frames, kind="stable") if frames[k] > 0][:n_slots]
    if not active or n_slots == 0:
        return out
    active = sorted(active)
    sim = activity_similarity(slot_activity, speaker_activity[:, active])  # (S, K')
    perm = pit_assign(torch.from_numpy(-sim)[None])[0].numpy()
    out[active] = perm[: len(active)]
    return out


def exclusive_activity(active: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """At most one speaker per frame: in overlap, the active speaker of highest score.

    Args:
        active: Binary activity (T, K).
        scores: (T, K) (ties: the lower speaker index).

    Returns:
        (T, K) int8.
    """
    active = np.asarray(active) > 0
    out = np.zeros(active.shape, dtype=np.int8)
    if active.size == 0:
        return out
    masked = np.where(active, scores, -np.inf)
    best = masked.argmax(axis=1)
    rows = np.flatnonzero(active.any(axis=1))
    out[rows, best[rows]] = 1
    return out


def word_starts(token_type: str, tokens: Sequence[str]) -> List[bool]:
    """Whether each token starts a new word, by the tokenizer's word boundary.

    Args:
        token_type: ESPnet's ``token_type`` (``bpe``, ``char``, ``word``, ...).
        tokens: The tokens of one hypothesis.

    Returns:
        One flag per token; for ``char``, ``<space>`` tokens are boundaries (flag
        False, and the next token starts a word).
    """
    if token_type == "bpe":
        return [i == 0 or t.startswith("▁") for i, t in enumerate(tokens)]
    if token_type == "char":
        out, after_space = [], True
        for t in tokens:
            out.append(after_space and t != "<space>")
            after_space = t == "<space>"
        return out
    return [True] * len(tokens)


def tokens_to_words(
    tokens: Sequence[str],
    frames: Sequence[int],
    token_type: str,
    tokens2text: Callable[[List[str]], str],
    frame_sec: float,
    offset_s: float = 0.0,
) -> List[Word]:
    """Words with times of one ASR hypothesis (rule: module docstring).

    Args:
        tokens: Token strings (no blank/sos/eos/unk).
        frames: Encoder frame of each token.
        token_type: ESPnet's ``token_type``.
        tokens2text: The tokenizer's ``tokens2text``.
        frame_sec: Seconds per encoder frame.
        offset_s: Recording time of frame 0.

    Returns:
        Words in time order; empty words (e.g. a lone ``▁``) are dropped.

    Raises:
        ValueError: not one frame per token.
    """
    if len(tokens) != len(frames):
        raise ValueError(f"{len(tokens)} tokens but {len(frames)} token frames")
    groups: List[Tuple[List[str], List[int]]] = []
    for tok, fr, start in zip(tokens, frames, word_starts(token_type, tokens)):
        if token_type == "char" and tok == "<space>":
            continue
        if start or not groups:
            groups.append(([], []))
        groups[-1][0].append(tok)
        groups[-1][1].append(int(fr))
    words = []
    for toks, frs in groups:
        text = tokens2text(toks).strip()
        if text:
            words.append(Word(text, offset_s + min(frs) * frame_sec,
                              offset_s + (max(frs) + 1) * frame_sec))
    words.sort(key=lambda w: w.start)
    return words


def words_in(words: List[Word], begin_s: float, end_s: Optional[float]) -> List[Word]:
    """The words whose onset lies in ``[begin_s, end_s)`` (``end_s`` None: no bound)."""
    return [w for w in words if w.start >= begin_s and (end_s is None or w.start < end_s)]

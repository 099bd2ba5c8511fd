# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Blind diarization of one recording with an unknown number of speakers (``diar_mode: vbx``).

Pipeline (the x-vector + PLDA + VBx recipe of Landini et al. 2022, "Bayesian HMM
clustering of x-vector sequences (VBx) in speaker diarization", Computer Speech &
Language 71, with this project's frame-level speaker features instead of an x-vector
extractor, and the speech / overlap signals of the EEND head instead of an external
VAD and overlap detector):

1. **Speech and overlap count** (:func:`speech_and_count`): from the EEND head's
   activity posteriors (T, S), thresholded and median-filtered per slot exactly as
   ``Speech2Echo`` does for ``diar_mode: eend``: a frame is speech when any slot is
   active, and its count is the number of active slots. Both are invariant to the
   slot order, so they need no linking across chunks.
2. **Windows** (:func:`make_windows`): ``window`` frames every ``hop`` frames
   (``window_s``/``hop_s`` of the speaker head, 1.5 s / 0.75 s), starting at frame 0;
   one more window ending at the last frame when the hop grid leaves a tail; a
   recording shorter than a window is one window. The pooling weights of a window are
   its speech mask. A window is **kept** when its speech frames are at least
   ``min_speech_share`` of its length (default 0.5, the rule the PLDA is fitted with,
   :mod:`espnet_echo.inference.speaker_embeddings`). When no window qualifies but
   there is speech, the window with the most speech frames is kept alone (any speech
   gives at least one speaker).
3. **Embeddings** (:func:`embed_windows`): the speaker head's ``embed`` pools each kept
   window's frames weighted by its speech mask (L2-normalised), window by window (memory
   grows with the windows, not with windows x recording length); then
   :class:`espnet_echo.cluster.vbx.VBx` in the space of the
   :class:`espnet_echo.cluster.plda.PLDA` gives per-window labels and posteriors (AHC
   init, VB-HMM, pyannote's ``num_speakers`` / ``min_speakers`` / ``max_speakers``
   semantics).
4. **Frames**: every speech frame gets the speaker of the kept window whose centre is
   nearest to it (ties: the earlier window); non-speech frames get none.
5. **Overlap**: a speech frame whose count is >= 2 also gets a second speaker: the
   speaker of the **nearest frame in time (from step 4) whose speaker differs** from
   its own (ties: the earlier frame). Overlaps sit mostly at turn changes, where the
   neighbouring turn is the other talker; this rule does not depend on how peaked the
   VBx posteriors are (they are often near one-hot, and one-hot on VBx's K-means
   fallback). At most two speakers per frame; with K̂ = 1 nothing is added.
6. Speakers that end up without any frame (a window whose nearest-centre region is
   silent) are dropped and the rest renumbered in order of first window, so every one
   of the K̂ columns is active somewhere.

Degenerate input: no speech frame gives K̂ = 0 and an empty (T, 0) activity (also
when a speaker count is demanded; a warning is logged); one kept window gives K̂ = 1;
``num_speakers`` / ``min_speakers`` above the number of kept windows is a
``ValueError`` naming both numbers (from VBx); NaN/Inf speaker frames are a
``ValueError`` naming the input.
"""

import logging
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import numpy as np
import torch

from espnet_echo.cluster.plda import PLDA, check_finite_2d
from espnet_echo.cluster.vbx import VBx

#: ``embed(speaker_frames (B, T, E), weights (B, W, T)) -> (B, W, embed_dim)``.
EmbedFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class BlindDiarResult:
    """Result of :func:`blind_diarize` for one recording.

    Attributes:
        activity: Binary speaker activity (T, K̂) int8.
        num_spk: K̂.
        windows: Kept windows ``[start, end)`` in frames (N, 2) int64.
        window_labels: Speaker of each kept window (N,) in ``[0, K̂)`` (after step 6's
            renumbering; -1 for a window whose speaker was dropped).
        window_posteriors: VBx posteriors (N, K_vbx) (columns in VBx's numbering).
        primary: Speaker of each frame from step 4 (T,) int64, -1 for no speech: the
            exclusive (one speaker per frame) diarization.
    """

    activity: np.ndarray
    num_spk: int
    windows: np.ndarray
    window_labels: np.ndarray
    window_posteriors: np.ndarray
    primary: Optional[np.ndarray] = None


def speech_and_count(active: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Speech mask and speaker count per frame from binarised EEND activity.

    Args:
        active: Thresholded, median-filtered slot activity (T, S), 0/1.

    Returns:
        ``speech`` (T,) bool (any slot active) and ``count`` (T,) int64 (active slots).

    Raises:
        ValueError: ``active`` is not 2-D.
    """
    active = np.asarray(active)
    if active.ndim != 2:
        raise ValueError(f"activity must be (T, S), got shape {active.shape}")
    count = (active > 0).sum(axis=1).astype(np.int64)
    return count > 0, count


def make_windows(num_frames: int, window: int, hop: int) -> np.ndarray:
    """Window grid over a recording (rule: module docstring, step 2).

    Args:
        num_frames: T >= 0.
        window: Window length in frames, >= 1.
        hop: Hop in frames, >= 1.

    Returns:
        ``[start, end)`` frame ranges (N, 2) int64, starts increasing; (0, 2) for T = 0.

    Raises:
        ValueError: ``window < 1`` or ``hop < 1``.
    """
    if window < 1 or hop < 1:
        raise ValueError(f"window and hop must be >= 1 frame, got {window}, {hop}")
    if num_frames <= 0:
        return np.zeros((0, 2), dtype=np.int64)
    if num_frames <= window:
        return np.array([[0, num_frames]], dtype=np.int64)
    starts = list(range(0, num_frames - window + 1, hop))
    if starts[-1] + window < num_frames:
        starts.append(num_frames - window)
    starts = np.asarray(starts, dtype=np.int64)
    return np.stack([starts, starts + window], axis=1)


def _nearest(positions: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index of the nearest of increasing ``positions`` to each query (ties: earlier)."""
    right = np.clip(np.searchsorted(positions, queries, side="left"), 0, len(positions) - 1)
    left = np.clip(right - 1, 0, len(positions) - 1)
    take_left = np.abs(queries - positions[left]) <= np.abs(positions[right] - queries)
    return np.where(take_left, left, right)


def second_speaker(primary: np.ndarray, num_spk: int) -> np.ndarray:
    """Speaker of the nearest frame whose speaker differs (module docstring, step 5).

    Args:
        primary: Speaker of each frame (T,), -1 for no speaker.
        num_spk: K̂.

    Returns:
        (T,) int64: the other speaker nearest in time (ties: the earlier frame), -1
        where there is none (no speaker in the frame, or no other speaker at all).
    """
    t = len(primary)
    out = np.full(t, -1, dtype=np.int64)
    if t == 0 or num_spk < 2:
        return out
    idx = np.arange(t)
    big = 4 * t + 4
    dist = np.full((t, num_spk), big, dtype=np.int64)
    for k in range(num_spk):
        mine = primary == k
        if not mine.any():
            continue
        last = np.maximum.accumulate(np.where(mine, idx, -big))
        nxt = np.minimum.accumulate(np.where(mine, idx, 2 * big)[::-1])[::-1]
        # the earlier frame wins a tie: add 0.5 to forward distances via doubling
        dist[:, k] = np.minimum(2 * (idx - last), 2 * (nxt - idx) + 1)
    speech = primary >= 0
    dist[speech, primary[speech]] = 4 * big
    best = dist.argmin(axis=1)
    ok = speech & (dist[idx, best] < 2 * big)
    out[ok] = best[ok]
    return out


def embed_windows(
    embed: EmbedFn,
    speaker_frames: torch.Tensor,
    speech: np.ndarray,
    windows: np.ndarray,
    batch_windows: int = 256,
) -> torch.Tensor:
    """Embeddings of windows pooled over their speech frames, window by window.

    Each window is cut out of ``speaker_frames`` and pooled alone (``embed`` on a
    batch of windows, one window each), so memory grows with the number of windows
    times their length, not times the recording length.

    Args:
        embed: The speaker head's ``embed``.
        speaker_frames: (T, E).
        speech: Speech mask (T,) bool: the pooling weights.
        windows: ``[start, end)`` frame ranges (N, 2), all of one length (or one
            window).
        batch_windows: Windows per ``embed`` call.

    Returns:
        (N, embed_dim) on ``speaker_frames``' device.
    """
    lengths = windows[:, 1] - windows[:, 0]
    if len(windows) == 0 or (lengths != lengths[0]).any():
        raise ValueError(f"windows must be non-empty and of one length, got {lengths}")
    idx = torch.from_numpy(windows[:, :1] + np.arange(lengths[0])[None, :])  # (N, W)
    idx = idx.to(speaker_frames.device)
    # frames may be stored in half precision (long recordings); each batch of windows
    # is pooled in float32
    mask = torch.from_numpy(speech).to(speaker_frames.device, torch.float32)
    out = []
    with torch.no_grad():
        for i in range(0, len(windows), batch_windows):
            part = idx[i:i + batch_windows]
            out.append(embed(speaker_frames[part].float(), mask[part][:, None, :])[:, 0])
    return torch.cat(out)


def blind_diarize(
    speaker_frames: torch.Tensor,
    speech: np.ndarray,
    embed: EmbedFn,
    plda: PLDA,
    vbx: VBx,
    window: int,
    hop: int,
    count: Optional[np.ndarray] = None,
    min_speech_share: float = 0.5,
    num_speakers: Optional[int] = None,
    min_speakers: Optional[int] = None,
    max_speakers: Optional[int] = None,
    name: str = "speaker_frames",
) -> BlindDiarResult:
    """Diarize one recording: windows -> embeddings -> PLDA -> VBx -> frames.

    The rules of each step are in the module docstring.

    Args:
        speaker_frames: Frame-level speaker features (T, E) of the speaker head.
        speech: Speech mask (T,) bool (:func:`speech_and_count`).
        embed: The speaker head's ``embed`` (see :data:`EmbedFn`).
        plda: PLDA fitted on the head's embeddings.
        vbx: Configured :class:`~espnet_echo.cluster.vbx.VBx`.
        window: Window length in frames (``window_s / frame_sec``).
        hop: Window hop in frames.
        count: Active speakers per frame (T,) int, or None (no overlap rule).
        min_speech_share: Least share of speech frames of a kept window, in (0, 1].
        num_speakers: Exact K, or None (pyannote's semantics, see VBx).
        min_speakers: Lower bound on K, or None.
        max_speakers: Upper bound on K, or None.
        name: What ``speaker_frames`` are (the recording), for error messages.

    Returns:
        :class:`BlindDiarResult`.

    Raises:
        ValueError: ``speaker_frames`` not (T, E) or holding NaN/Inf (naming ``name``),
            ``speech``/``count`` not (T,), ``min_speech_share`` out of range, an
            embedding of the wrong dimension for the PLDA (naming its file), or a
            speaker count the windows cannot satisfy (naming both numbers).
    """
    if not 0.0 < min_speech_share <= 1.0:
        raise ValueError(f"min_speech_share must be in (0, 1], got {min_speech_share}")
    if not isinstance(speaker_frames, torch.Tensor) or speaker_frames.dim() != 2:
        shape = getattr(speaker_frames, "shape", type(speaker_frames))
        raise ValueError(f"{name}: speaker frames must be (T, E), got {tuple(shape)}")
    if not torch.isfinite(speaker_frames).all():
        bad = (~torch.isfinite(speaker_frames).all(dim=1)).nonzero()[:, 0]
        raise ValueError(
            f"{name}: speaker frames hold NaN/Inf in {len(bad)} of "
            f"{speaker_frames.shape[0]} frames (first: frame {int(bad[0])})"
        )
    t = speaker_frames.shape[0]
    speech = np.asarray(speech).astype(bool)
    if speech.shape != (t,):
        raise ValueError(f"{name}: speech mask must be ({t},), got {speech.shape}")
    if count is not None:
        count = np.asarray(count)
        if count.shape != (t,):
            raise ValueError(f"{name}: speaker count must be ({t},), got {count.shape}")
    empty_windows = np.zeros((0, 2), dtype=np.int64)
    if not speech.any():
        if num_speakers or min_speakers:
            logging.warning(f"{name}: no speech; 0 speakers whatever the count asked")
        return BlindDiarResult(
            np.zeros((t, 0), np.int8), 0, empty_windows, np.zeros(0, np.int64),
            np.zeros((0, 0)), np.full(t, -1, dtype=np.int64),
        )

    grid = make_windows(t, window, hop)
    cum = np.concatenate([[0], np.cumsum(speech)])
    voiced = cum[grid[:, 1]] - cum[grid[:, 0]]
    keep = voiced >= min_speech_share * (grid[:, 1] - grid[:, 0])
    if not keep.any():
        keep[int(np.argmax(voiced))] = True
    windows = grid[keep]

    emb = embed_windows(embed, speaker_frames, speech, windows)
    emb = check_finite_2d(emb.detach().cpu().double().numpy(), f"{name}: embeddings")
    try:
        labels, post = vbx.cluster(
            emb, plda, num_speakers=num_speakers, min_speakers=min_speakers,
            max_speakers=max_speakers, name=f"{name}: embeddings",
        )
    except ValueError as e:
        raise ValueError(f"{name}: {len(windows)} speech windows: {e}") from None

    centres = (windows[:, 0] + windows[:, 1] - 1) / 2.0
    frames = np.flatnonzero(speech)
    primary = np.full(t, -1, dtype=np.int64)
    primary[frames] = labels[_nearest(centres, frames.astype(np.float64))]
    # step 6: drop speakers without frames, renumber by first window
    used = [k for k in dict.fromkeys(labels.tolist()) if (primary == k).any()]
    renum = np.full(max(post.shape[1], int(labels.max()) + 1), -1, dtype=np.int64)
    renum[used] = np.arange(len(used))
    primary = np.where(primary >= 0, renum[np.maximum(primary, 0)], -1)
    k_hat = len(used)
    activity = np.zeros((t, k_hat), dtype=np.int8)
    activity[frames, primary[frames]] = 1
    if count is not None and k_hat >= 2:
        second = second_speaker(primary, k_hat)
        both = (count >= 2) & (second >= 0)
        activity[np.flatnonzero(both), second[both]] = 1
    return BlindDiarResult(activity, k_hat, windows, renum[labels], post, primary)

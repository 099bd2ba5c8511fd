# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Representation-collapse monitors for self-supervised latents."""

import logging
from typing import Dict, Optional

import torch
from typeguard import typechecked


def valid_frames(latents: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
    """Select frames.

    Args:
        latents: (B, T, D).
        frame_mask: Bool (B, T), True = keep (e.g. valid, non-padding frames).

    Returns:
        torch.Tensor: (N, D), N = number of kept frames, as float32 without gradient.
    """
    return latents.detach()[frame_mask].float()


def mean_std(frames: torch.Tensor) -> float:
    """Mean over dimensions of the per-dimension std across frames (N, D); 0 if N < 2."""
    if frames.shape[0] < 2:
        return 0.0
    return float(frames.std(dim=0).mean())


def effective_rank(frames: torch.Tensor, max_frames: int = 1024) -> float:
    """Effective rank ``exp(H(p))``, ``p = s / sum(s)`` over the singular values ``s``.

    Computed on the uncentred frames (RankMe), so identical frames give 1 and isotropic
    random frames give close to ``min(N, D)``. At most ``max_frames`` evenly strided
    frames are used, which bounds the SVD cost.

    Args:
        frames: (N, D).
        max_frames: Frames used at most.

    Returns:
        float: In [1, min(N, D)]; 0 for no frames or all-zero frames.
    """
    if frames.shape[0] > max_frames:
        frames = frames[:: -(-frames.shape[0] // max_frames)]
    if frames.numel() == 0:
        return 0.0
    s = torch.linalg.svdvals(frames)
    total = s.sum()
    if total <= 0:
        return 0.0
    p = s / total
    entropy = -(p * torch.log(p.clamp_min(1e-12))).sum()
    return float(torch.exp(entropy))


def mean_cosine_similarity(
    frames: torch.Tensor, num_pairs: int = 1024, generator: Optional[torch.Generator] = None
) -> float:
    """Mean cosine similarity of random pairs of distinct frames (N, D); 0 if N < 2."""
    n = frames.shape[0]
    if n < 2:
        return 0.0
    i = torch.randint(0, n, (num_pairs,), generator=generator)
    j = (i + torch.randint(1, n, (num_pairs,), generator=generator)) % n  # j != i
    i, j = i.to(frames.device), j.to(frames.device)
    return float(torch.nn.functional.cosine_similarity(frames[i], frames[j], dim=-1).mean())


class CollapseMonitor:
    """Collapse statistics of a batch of latents, with a loud warning on low spread.

    Args:
        std_threshold: Warn when the mean per-dimension std falls below this.
        max_frames: Frames used at most for the effective rank.
        num_pairs: Random frame pairs for the cosine similarity.
    """

    @typechecked
    def __init__(
        self, std_threshold: float = 0.01, max_frames: int = 1024, num_pairs: int = 1024
    ):
        if std_threshold < 0:
            raise ValueError(f"std_threshold must be >= 0, got {std_threshold}")
        self.std_threshold = std_threshold
        self.max_frames = max_frames
        self.num_pairs = num_pairs

    def __call__(
        self, name: str, latents: torch.Tensor, frame_mask: torch.Tensor, step: int = -1
    ) -> Dict[str, float]:
        """Statistics of ``latents`` (B, T, D) over the frames where ``frame_mask`` (B, T).

        Returns:
            Dict[str, float]: ``{name}_std``, ``{name}_eff_rank``, ``{name}_cos_sim``.
        """
        frames = valid_frames(latents, frame_mask)
        std = mean_std(frames)
        if frames.shape[0] >= 2 and std < self.std_threshold:
            logging.warning(
                f"!!! REPRESENTATION COLLAPSE? {name} latents: mean per-dimension std "
                f"{std:.3g} < threshold {self.std_threshold:g} at step {step} "
                f"({frames.shape[0]} frames). Check the EMA momentum, the learning rate "
                "and the mask ratio; consider GMM anchoring (gmm_file). !!!"
            )
        return {
            f"{name}_std": std,
            f"{name}_eff_rank": effective_rank(frames, self.max_frames),
            f"{name}_cos_sim": mean_cosine_similarity(frames, self.num_pairs),
        }

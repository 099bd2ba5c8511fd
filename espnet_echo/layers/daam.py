# Copyright 2026 espnet-echo developers
#  Apache 2.0

"""Density-adaptive gating over time (DAAM, ``GAttnGateG`` of JEPA+DAAM+FSQ)."""

import math
from typing import Optional

import torch
from typeguard import typechecked


class DensityAdaptiveGate(torch.nn.Module):
    """Gate each frame by a Gaussian-mixture density of its projection over time.

    For ``x`` (B, T, D), per utterance and over its valid frames only:

    1. ``a_t = w^T x_t`` (one channel; the paper's 1x1 conv, whose bias cancels in z);
    2. ``mu = mean_t(a)``, ``sigma = sqrt(max(var_t(a), 1e-6))``;
    3. for G Gaussians with learnable mean offsets ``delta_g`` (init 0) and scales
       ``s_g = softplus(nu_g) + 1e-3`` (``nu_g`` init ``log 0.5``):
       ``z_gt = (a_t - (mu + delta_g)) / (sigma * s_g + eps)``,
       ``log p_gt = -z_gt^2 / 2 - log s_g - log(2 pi) / 2``;
    4. ``G_t = exp(logsumexp_g(log p_gt) - log G)`` (equal-weight mixture, float32);
    5. ``y_t = x_t * (1 + alpha * G_t)`` with a learnable scalar ``alpha``.

    ``G_t`` is the mixture density of the standardised projection, so it lies in
    ``[0, 1 / (sqrt(2 pi) * min_g s_g)]`` (below 1 at init, ``s_g`` ~ 0.41): frames
    whose projection is typical for the utterance are amplified, outliers pass almost
    unchanged. ``alpha = 0`` is exactly the identity. Padding frames are returned
    unchanged and do not enter the statistics, so the output on valid frames does not
    depend on them.

    Args:
        input_size: Feature dimension D.
        num_gaussians: G.
        alpha_init: Initial ``alpha`` (0.05 in the reference code).
        init_log_scale: Initial ``nu_g`` (``log 0.5``).
        eps: Added to the denominator of ``z``.
    """

    @typechecked
    def __init__(
        self,
        input_size: int,
        num_gaussians: int = 4,
        alpha_init: float = 0.05,
        init_log_scale: float = math.log(0.5),
        eps: float = 1e-5,
    ):
        super().__init__()
        if input_size < 1 or num_gaussians < 1:
            raise ValueError(
                f"input_size and num_gaussians must be >= 1, got {input_size} and "
                f"{num_gaussians}"
            )
        self.eps = eps
        self.proj = torch.nn.Linear(input_size, 1, bias=False)  # a bias cancels in z
        self.mean_offsets = torch.nn.Parameter(torch.zeros(num_gaussians))
        self.log_scales = torch.nn.Parameter(torch.full((num_gaussians,), init_log_scale))
        self.alpha = torch.nn.Parameter(torch.tensor(float(alpha_init)))

    def gate(self, x: torch.Tensor, pad_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The density ``G`` (B, T) of each frame, float32 (0 on padding frames).

        Args:
            x: Features (B, T, D).
            pad_mask: Padding mask (B, T), True = padding; None: no padding.
        """
        a = self.proj(x).squeeze(-1).float()  # (B, T)
        valid = (
            torch.ones_like(a, dtype=torch.bool) if pad_mask is None else ~pad_mask
        )
        a = a.masked_fill(~valid, 0.0)
        count = valid.sum(dim=1, keepdim=True).clamp_min(1)
        mean = a.sum(dim=1, keepdim=True) / count
        centred = (a - mean).masked_fill(~valid, 0.0)
        std = ((centred**2).sum(dim=1, keepdim=True) / count).clamp_min(1e-6).sqrt()
        scales = torch.nn.functional.softplus(self.log_scales.float()) + 1e-3  # (G,)
        z = (a[..., None] - (mean[..., None] + self.mean_offsets.float())) / (
            std[..., None] * scales + self.eps
        )  # (B, T, G)
        log_p = -0.5 * z**2 - scales.log() - 0.5 * math.log(2.0 * math.pi)
        log_g = torch.logsumexp(log_p, dim=-1) - math.log(scales.numel())
        return log_g.exp().masked_fill(~valid, 0.0)

    def forward(
        self, x: torch.Tensor, pad_mask: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """Gate the frames: ``x * (1 + alpha * G)``, padding frames unchanged.

        Args:
            x: Features (B, T, D).
            pad_mask: Padding mask (B, T), True = padding; None: no padding.

        Returns:
            torch.Tensor: (B, T, D), same dtype as ``x``.
        """
        factor = 1.0 + self.alpha * self.gate(x, pad_mask)
        return x * factor.to(x.dtype)[..., None]

# Copyright 2026 espnet-echo developers
#  Apache 2.0

"""Residual weighted-sum encoding (RWSE) of encoder layer states."""

from typing import Sequence

import torch
from typeguard import typechecked

_MODES = ("rwse", "last")


class RWSE(torch.nn.Module):
    """Residual weighted sum of encoder layer states.

    ``mode="rwse"``: ``out = sum_l softmax(w)_l * h_l + last`` with one learnable
    logit per layer, initialised to zero (uniform weights ``1 / L``).
    ``mode="last"``: ``out = last`` (ablation; the module has no parameters).

    One instance per task head, so each head learns its own layer weighting.

    Args:
        num_layers: Number of layer states L that ``forward`` receives.
        mode: ``rwse`` or ``last``.
    """

    @typechecked
    def __init__(self, num_layers: int, mode: str = "rwse"):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if mode not in _MODES:
            raise ValueError(f"unknown RWSE mode {mode!r}; choose one of {_MODES}")
        self.num_layers = num_layers
        self.mode = mode
        if mode == "rwse":
            self.weights = torch.nn.Parameter(torch.zeros(num_layers))
        else:
            self.register_parameter("weights", None)

    def layer_weights(self) -> torch.Tensor:
        """Softmax layer weights (L,), detached; zeros in ``last`` mode."""
        if self.weights is None:
            return torch.zeros(self.num_layers)
        return torch.softmax(self.weights.detach(), dim=0)

    def forward(
        self, hs: Sequence[torch.Tensor], last: torch.Tensor
    ) -> torch.Tensor:
        """Fuse layer states.

        Args:
            hs: L layer states ``[h_1, ..., h_L]``, each (B, T, D).
            last: Final encoder output (B, T, D), added as the residual.

        Returns:
            torch.Tensor: Fused features (B, T, D).
        """
        self._check(hs, last)
        if self.weights is None:
            return last
        w = torch.softmax(self.weights, dim=0).to(dtype=last.dtype)
        out = last
        for i, h in enumerate(hs):
            out = out + w[i] * h
        return out

    def _check(self, hs: Sequence[torch.Tensor], last: torch.Tensor) -> None:
        if not isinstance(hs, (list, tuple)):
            raise TypeError(
                f"RWSE expects a list of layer states, got {type(hs).__name__}"
            )
        if len(hs) != self.num_layers:
            raise ValueError(
                f"RWSE was built for {self.num_layers} layer states but got {len(hs)}"
            )
        for i, h in enumerate(hs):
            if h.shape != last.shape:
                raise ValueError(
                    f"RWSE: layer state {i} has shape {tuple(h.shape)} but `last` has "
                    f"{tuple(last.shape)}"
                )

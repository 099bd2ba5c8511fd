# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Exponential moving average (EMA) of the JEPA target encoder, with its momentum schedule."""

import math

import torch
from typeguard import typechecked


class EMAMomentum:
    """Momentum schedule ``m(step)`` from ``start`` to ``end`` over ``anneal_steps``.

    ``linear``: ``m = start + (end - start) * t``; ``cosine``:
    ``m = end - (end - start) * (1 + cos(pi * t)) / 2``, with
    ``t = min(step / anneal_steps, 1)``; ``m = end`` after ``anneal_steps`` (and always
    when ``anneal_steps == 0``).

    Args:
        start: Momentum at step 0 (e.g. 0.996).
        end: Momentum after annealing (e.g. 1.0: the target freezes).
        anneal_steps: Steps from ``start`` to ``end``.
        schedule: ``linear`` or ``cosine``.
    """

    @typechecked
    def __init__(
        self,
        start: float = 0.996,
        end: float = 1.0,
        anneal_steps: int = 100000,
        schedule: str = "cosine",
    ):
        if not (0.0 <= start <= 1.0 and 0.0 <= end <= 1.0):
            raise ValueError(f"EMA momenta must lie in [0, 1], got start={start}, end={end}")
        if anneal_steps < 0:
            raise ValueError(f"ema anneal_steps must be >= 0, got {anneal_steps}")
        if schedule not in ("linear", "cosine"):
            raise ValueError(f"unknown EMA schedule {schedule!r}; choose linear or cosine")
        self.start = start
        self.end = end
        self.anneal_steps = anneal_steps
        self.schedule = schedule

    def __call__(self, step: int) -> float:
        """Momentum at ``step`` (0-based)."""
        if self.anneal_steps == 0 or step >= self.anneal_steps:
            return self.end
        t = max(step, 0) / self.anneal_steps
        if self.schedule == "linear":
            return self.start + (self.end - self.start) * t
        return self.end - (self.end - self.start) * (1.0 + math.cos(math.pi * t)) / 2.0


@torch.no_grad()
def ema_update_(target: torch.nn.Module, source: torch.nn.Module, momentum: float) -> None:
    """``target <- momentum * target + (1 - momentum) * source``, in place.

    Parameters are averaged; floating-point buffers (e.g. BatchNorm statistics) are
    averaged the same way and other buffers copied. Both modules must have the same
    structure (``target`` is a deep copy of ``source``). Runs under ``torch.no_grad()``;
    ``target``'s parameters should have ``requires_grad=False``.

    Args:
        target: Module updated in place.
        source: Module whose current weights are averaged in.
        momentum: Weight of the old target, in [0, 1].
    """
    tgt = list(target.parameters())
    src = list(source.parameters())
    if len(tgt) != len(src):
        raise ValueError(
            f"EMA target has {len(tgt)} parameters but the source has {len(src)}"
        )
    if tgt:
        torch._foreach_mul_(tgt, momentum)
        torch._foreach_add_(tgt, torch._foreach_mul([p.detach() for p in src], 1.0 - momentum))
    for t_buf, s_buf in zip(target.buffers(), source.buffers()):
        if t_buf.is_floating_point():
            t_buf.mul_(momentum).add_(s_buf * (1.0 - momentum))
        else:
            t_buf.copy_(s_buf)

# Copyright 2026 espnet-echo developers
#  Apache 2.0

"""Permutation-invariant training: one exact slot-to-reference assignment for every head.

Every head with S output slots and K <= S references builds a pairwise cost
``cost[b, s, k]`` (the loss of slot ``s`` estimating reference ``k``) and asks
:func:`pit_assign` for the assignment of minimal total cost. The assignment is exact
(``scipy.optimize.linear_sum_assignment``, the Hungarian / Jonker-Volgenant algorithm,
O(S^3) per utterance instead of the S! of enumerating permutations) and works for any
K <= S: the ``S - K`` slots left over are the null slots. When a head's loss has a
per-slot term for null slots (e.g. an energy penalty), subtracting that term from every
column of the cost makes the assignment minimise the whole loss, because the sum of the
per-slot term over all slots is a constant.

Permutation convention (returned, never stored): ``perm`` (B, S) lists, for utterance
``b``, first the slot of each reference ``0 .. K_b - 1``, then the null slots in
ascending order. So ``est[b, perm[b]]`` is in reference order followed by the null
slots, and ``inverse_permutation(perm)[b, s]`` is the reference index of slot ``s``
(``>= K_b`` for a null slot).
"""

from typing import Optional

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment


def _check(cost: torch.Tensor, num_refs: Optional[torch.Tensor]) -> torch.Tensor:
    """Validate the inputs of the functions below; return K_b as a CPU long (B,)."""
    if not isinstance(cost, torch.Tensor) or cost.dim() != 3:
        shape = tuple(cost.shape) if isinstance(cost, torch.Tensor) else type(cost)
        raise ValueError(f"cost must be (B, S_slots, K_refs), got {shape}")
    bs, n_slots, n_refs = cost.shape
    if n_refs > n_slots:
        raise ValueError(
            f"cost has K={n_refs} references for S={n_slots} slots; need K <= S"
        )
    if num_refs is None:
        return torch.full((bs,), n_refs, dtype=torch.long)
    if not isinstance(num_refs, torch.Tensor) or num_refs.shape != (bs,):
        shape = tuple(num_refs.shape) if isinstance(num_refs, torch.Tensor) else num_refs
        raise ValueError(f"num_refs must be ({bs},), got {shape}")
    if num_refs.dtype.is_floating_point or num_refs.dtype == torch.bool:
        raise ValueError(f"num_refs must be an integer tensor, got {num_refs.dtype}")
    counts = num_refs.detach().cpu().long()
    if bs and (int(counts.min()) < 0 or int(counts.max()) > n_refs):
        raise ValueError(
            f"num_refs must be in [0, K={n_refs}] (the cost's references), "
            f"got {counts.tolist()}"
        )
    return counts


def pit_assign(
    cost: torch.Tensor, num_refs: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """Exact minimal-cost assignment of K references to K of S slots, per utterance.

    Method: ``scipy.optimize.linear_sum_assignment`` on each utterance's (S, K_b) cost
    (rectangular assignment: every reference gets one distinct slot). No gradient flows
    through the assignment; compute the loss from the cost with :func:`matched_cost`.

    Args:
        cost: Pairwise cost (B, S, K), ``cost[b, s, k]`` = cost of slot ``s`` for
            reference ``k``; K <= S. Any dtype and device; read without gradient.
            ``+inf`` marks a forbidden pair (avoided whenever a finite assignment
            exists).
        num_refs: References per utterance K_b (B,), integer, ``0 <= K_b <= K``; only
            the first K_b columns of utterance ``b`` are read (the rest may hold
            anything, NaN included). None: all K columns of every utterance.

    Returns:
        perm: Long (B, S) on ``cost``'s device. ``perm[b, :K_b]`` are the slots of
        references ``0 .. K_b - 1`` (distinct); ``perm[b, K_b:]`` are the null slots
        in ascending order. Each row is a permutation of ``0 .. S - 1``.

    Raises:
        ValueError: ``cost`` is not 3-D or has K > S; ``num_refs`` has the wrong
            shape, a non-integer dtype or a value outside ``[0, K]``; a read cost is
            NaN or ``-inf``.
    """
    counts = _check(cost, num_refs)
    bs, n_slots, _ = cost.shape
    values = cost.detach().to("cpu", torch.float64).numpy()
    perm = np.empty((bs, n_slots), dtype=np.int64)
    for b in range(bs):
        k = int(counts[b])
        c = values[b, :, :k]
        if np.isnan(c).any() or np.isneginf(c).any():
            raise ValueError(f"cost of utterance {b} contains NaN or -inf")
        if k == 0:
            perm[b] = np.arange(n_slots)
            continue
        posinf = np.isposinf(c)
        if posinf.any():
            # Any assignment that uses a forbidden pair costs more than every finite one.
            finite = c[~posinf]
            big = 2.0 * k * (np.abs(finite).max() if finite.size else 0.0) + 1.0
            c = np.where(posinf, big, c)
        slots, refs = linear_sum_assignment(c)  # rows = slots, cols = references
        slot_of_ref = np.empty(k, dtype=np.int64)
        slot_of_ref[refs] = slots
        null = np.setdiff1d(np.arange(n_slots), slot_of_ref)  # sorted
        perm[b, :k] = slot_of_ref
        perm[b, k:] = null
    return torch.from_numpy(perm).to(cost.device)


def matched_cost(
    cost: torch.Tensor, perm: torch.Tensor, num_refs: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """Total cost of an assignment, differentiable w.r.t. ``cost``.

    Args:
        cost: Pairwise cost (B, S, K).
        perm: Assignment (B, S) in :func:`pit_assign`'s convention.
        num_refs: References per utterance (B,); None: K for every utterance.

    Returns:
        ``sum_{k < K_b} cost[b, perm[b, k], k]`` (B,).

    Raises:
        ValueError: wrong shapes (see :func:`pit_assign`), or ``perm`` not (B, S).
    """
    counts = _check(cost, num_refs).to(cost.device)
    bs, n_slots, n_refs = cost.shape
    if perm.shape != (bs, n_slots):
        raise ValueError(f"perm must be ({bs}, {n_slots}), got {tuple(perm.shape)}")
    if n_refs == 0:
        return cost.new_zeros(bs)
    slots = perm[:, :n_refs].to(cost.device).long()  # (B, K)
    picked = torch.gather(cost, 1, slots[:, None, :]).squeeze(1)  # (B, K)
    used = torch.arange(n_refs, device=cost.device)[None, :] < counts[:, None]
    return torch.where(used, picked, picked.new_zeros(())).sum(-1)


def inverse_permutation(perm: torch.Tensor) -> torch.Tensor:
    """Reference index of every slot: ``inv[b, perm[b, k]] = k``.

    Args:
        perm: Permutations (B, S) (:func:`pit_assign`'s output).

    Returns:
        Long (B, S): for slot ``s``, the reference it estimates (``< K_b``) or its
        position among the null slots plus K_b (``>= K_b``).

    Raises:
        ValueError: ``perm`` is not 2-D or a row is not a permutation of 0..S-1.
    """
    if perm.dim() != 2:
        raise ValueError(f"perm must be (B, S), got {tuple(perm.shape)}")
    perm = perm.long()
    expected = torch.arange(perm.size(1), device=perm.device)
    if perm.numel() and not torch.equal(perm.sort(dim=1).values, expected.expand_as(perm)):
        raise ValueError("every row of perm must be a permutation of 0 .. S - 1")
    inv = torch.empty_like(perm)
    inv.scatter_(1, perm, expected.expand_as(perm).contiguous())
    return inv


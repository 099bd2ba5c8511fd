"""pit_assign against brute force over every injective slot map, ties, K = 0 / K = S."""

from itertools import permutations

import pytest
import torch

from espnet_echo.layers.pit import inverse_permutation, matched_cost, pit_assign


def brute_force_min(cost: torch.Tensor, k: int) -> float:
    """Minimal total cost of K references in K distinct slots of S, by enumeration."""
    n_slots = cost.shape[0]
    return min(
        sum(float(cost[s, j]) for j, s in enumerate(cand))
        for cand in permutations(range(n_slots), k)
    )


def check_perm(perm_row, k, n_slots):
    """A row is a permutation whose null part (after the K matched) is ascending."""
    row = perm_row.tolist()
    assert sorted(row) == list(range(n_slots))
    assert row[k:] == sorted(row[k:])


@pytest.mark.parametrize("n_slots", [1, 2, 3, 4])
def test_random_costs_match_brute_force_for_every_k(n_slots):
    g = torch.Generator().manual_seed(n_slots)
    for k in range(n_slots + 1):
        for trial in range(20):
            cost = torch.randn(3, n_slots, k, generator=g, dtype=torch.float64)
            cost = cost * (10.0 if trial % 2 else 1.0)
            perm = pit_assign(cost)
            assert perm.shape == (3, n_slots) and perm.dtype == torch.long
            total = matched_cost(cost, perm)
            for b in range(3):
                check_perm(perm[b], k, n_slots)
                assert float(total[b]) == pytest.approx(
                    brute_force_min(cost[b], k), abs=1e-9
                )


@pytest.mark.parametrize("n_slots", [2, 3, 4])
def test_per_utterance_k_ignores_the_padded_columns(n_slots):
    g = torch.Generator().manual_seed(10 + n_slots)
    for _ in range(20):
        counts = torch.randint(0, n_slots + 1, (5,), generator=g)
        cost = torch.randn(5, n_slots, n_slots, generator=g, dtype=torch.float64)
        padded = cost.clone()
        for b, k in enumerate(counts.tolist()):
            padded[b, :, k:] = float("nan")  # never read
        perm = pit_assign(padded, counts)
        total = matched_cost(cost, perm, counts)
        for b, k in enumerate(counts.tolist()):
            check_perm(perm[b], k, n_slots)
            assert float(total[b]) == pytest.approx(brute_force_min(cost[b, :, :k], k))
            # the same utterance alone, cut to its K columns, gets the same cost
            alone = pit_assign(cost[b : b + 1, :, :k])
            assert float(matched_cost(cost[b : b + 1, :, :k], alone)) == pytest.approx(
                float(total[b])
            )


def test_ties_give_an_optimal_permutation():
    g = torch.Generator().manual_seed(0)
    for n_slots in (2, 3, 4):
        for k in range(n_slots + 1):
            for _ in range(30):
                cost = torch.randint(0, 2, (2, n_slots, k), generator=g).float()
                perm = pit_assign(cost)
                total = matched_cost(cost, perm)
                for b in range(2):
                    check_perm(perm[b], k, n_slots)
                    assert float(total[b]) == brute_force_min(cost[b], k)
    # all-equal costs: any assignment is optimal, the result is still a permutation
    perm = pit_assign(torch.zeros(1, 4, 4))
    check_perm(perm[0], 4, 4)


def test_known_assignment_and_null_slots_ascending():
    # 4 slots, 2 references: reference 0 is best in slot 3, reference 1 in slot 1
    cost = torch.tensor([[[5.0, 5.0], [5.0, 0.0], [5.0, 5.0], [0.0, 5.0]]])
    perm = pit_assign(cost)
    assert perm.tolist() == [[3, 1, 0, 2]]
    inv = inverse_permutation(perm)
    assert inv.tolist() == [[2, 1, 3, 0]]  # slots 0, 2 are null (>= K = 2)
    assert float(matched_cost(cost, perm)) == 0.0
    # a greedy pick (reference 0 first, its best slot) would not be optimal here
    cost = torch.tensor([[[0.0, 1.0], [1.0, 100.0]]])
    assert pit_assign(cost).tolist() == [[1, 0]]


def test_k_zero_and_k_equal_s():
    perm = pit_assign(torch.zeros(2, 3, 0))
    assert perm.tolist() == [[0, 1, 2], [0, 1, 2]]
    assert matched_cost(torch.zeros(2, 3, 0), perm).tolist() == [0.0, 0.0]
    perm = pit_assign(torch.randn(2, 3, 3), num_refs=torch.tensor([0, 0]))
    assert perm.tolist() == [[0, 1, 2], [0, 1, 2]]
    # K = S: a permutation matrix as cost (negated) is recovered exactly
    target = torch.tensor([2, 0, 3, 1])
    cost = -torch.nn.functional.one_hot(target, 4).float().T[None]  # ref k best in slot t
    assert pit_assign(cost).tolist() == [target.tolist()]
    assert pit_assign(torch.zeros(0, 3, 2)).shape == (0, 3)


def test_forbidden_pairs_are_avoided_and_gradient_flows():
    inf = float("inf")
    cost = torch.tensor([[[inf, 1.0], [2.0, inf], [3.0, 0.5]]], requires_grad=True)
    perm = pit_assign(cost)
    assert perm[0, :2].tolist() == [1, 2]  # 2.0 + 0.5; every other choice is worse
    total = matched_cost(cost, perm)
    total.sum().backward()
    expected = torch.zeros(1, 3, 2)
    expected[0, 1, 0] = expected[0, 2, 1] = 1.0
    assert torch.equal(cost.grad, expected)
    assert perm.device == cost.device


def test_inverse_permutation_round_trip():
    g = torch.Generator().manual_seed(3)
    perm = torch.stack([torch.randperm(5, generator=g) for _ in range(4)])
    inv = inverse_permutation(perm)
    assert torch.equal(torch.gather(perm, 1, inv), torch.arange(5).expand(4, 5))
    with pytest.raises(ValueError, match="permutation"):
        inverse_permutation(torch.tensor([[0, 0, 1]]))
    with pytest.raises(ValueError, match=r"\(B, S\)"):
        inverse_permutation(torch.tensor([0, 1]))


@pytest.mark.parametrize(
    "cost, num_refs, match",
    [
        (torch.zeros(3, 3), None, r"\(B, S_slots, K_refs\)"),
        (torch.zeros(1, 2, 3, 1), None, r"\(B, S_slots, K_refs\)"),
        (torch.zeros(1, 2, 3), None, "K <= S"),
        (torch.zeros(2, 3, 2), torch.tensor([1]), r"num_refs must be \(2,\)"),
        (torch.zeros(2, 3, 2), torch.tensor([1, 3]), r"in \[0, K=2\]"),
        (torch.zeros(2, 3, 2), torch.tensor([-1, 0]), r"in \[0, K=2\]"),
        (torch.zeros(2, 3, 2), torch.tensor([1.0, 1.0]), "integer"),
        (torch.full((1, 2, 2), float("nan")), None, "NaN"),
        (torch.full((1, 2, 2), -float("inf")), None, "-inf"),
    ],
)
def test_bad_inputs_raise_value_error(cost, num_refs, match):
    with pytest.raises(ValueError, match=match):
        pit_assign(cost, num_refs)


def test_matched_cost_checks_perm_shape():
    with pytest.raises(ValueError, match="perm must be"):
        matched_cost(torch.zeros(2, 3, 2), torch.zeros(2, 2, dtype=torch.long))

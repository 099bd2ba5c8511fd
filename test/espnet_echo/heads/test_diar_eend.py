from itertools import permutations

import pytest
import torch
from espnet2.diar.espnet_model import ESPnetDiarizationModel

from espnet_echo.heads.diar_eend import EENDDiarHead

D, S, T = 8, 3, 20


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny tensors: intra-op threads only add contention on shared CPUs
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def make_batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(2, T, D, generator=g)
    feats_lens = torch.tensor([T, 15])
    labels = torch.zeros(2, T, S)
    labels[0, :12, 0] = 1  # utterance 0: two speakers, overlapping
    labels[0, 8:, 1] = 1
    labels[1, 2:10, 0] = 1  # utterance 1: one speaker, slots 1-2 absent
    return feats, feats_lens, labels


@pytest.mark.parametrize("hidden_size", [0, 16])
@pytest.mark.parametrize("training", [True, False])
def test_forward_shapes_loss_and_backward(hidden_size, training):
    head = EENDDiarHead(D, num_spk=S, hidden_size=hidden_size, dropout_rate=0.1)
    head.train(training)
    feats, feats_lens, labels = make_batch()
    loss, stats, perm = head(feats, feats_lens, spk_labels=labels)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert set(stats) == {"loss", "der", "miss", "fa", "conf", "spk_count_acc"}
    assert torch.isclose(stats["der"], stats["miss"] + stats["fa"] + stats["conf"])
    assert 0.0 <= float(stats["spk_count_acc"]) <= 1.0
    loss.backward()
    assert all(p.grad is not None for p in head.parameters())
    assert perm.shape == (2, S) and sorted(perm[0].tolist()) == list(range(S))
    assert not hasattr(head, "last_perm")

    out = head.infer(feats, feats_lens)
    probs = out["activity"]
    assert probs.shape == (2, T, S) and out["logits"].shape == (2, T, S)
    assert out["activity_lengths"].tolist() == [T, 15]
    assert ((probs >= 0) & (probs <= 1)).all()
    assert (probs[1, 15:] == 0).all()
    assert torch.allclose(probs[0], torch.sigmoid(out["logits"][0]))


class _ESPnetPIT(torch.nn.Module):
    """ESPnet's enumerating PIT-BCE, called as ESPnetDiarizationModel defines it."""

    pit_loss = ESPnetDiarizationModel.pit_loss
    pit_loss_single_permute = ESPnetDiarizationModel.pit_loss_single_permute
    create_length_mask = ESPnetDiarizationModel.create_length_mask

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(1))  # ESPnet reads the device from it


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loss_and_assignment_equal_espnet_pit_loss(seed):
    """Pairwise cost + exact assignment = ESPnet's enumeration over the S! perms."""
    torch.manual_seed(seed)
    head = EENDDiarHead(D, num_spk=S, hidden_size=8)
    feats, feats_lens, _ = make_batch(seed)
    labels = (torch.rand(2, T, S) > 0.6).float()
    labels[1, :, 2] = 0  # an absent speaker
    loss, _, perm = head(feats, feats_lens, spk_labels=labels)
    logits = head.infer(feats, feats_lens)["logits"]
    ref_loss, min_idx, perm_list, label_perm = _ESPnetPIT().pit_loss(
        logits, labels, feats_lens
    )
    assert torch.allclose(loss, ref_loss, rtol=1e-5, atol=1e-6)
    for b in range(2):
        # ESPnet: slot s gets label column perm_list[i][s]; ours: slot perm[b, k] gets k
        espnet_slot_to_ref = perm_list[int(min_idx[b])].tolist()
        ours = [perm[b].tolist().index(s) for s in range(S)]
        assert ours == espnet_slot_to_ref


def test_perm_is_the_minimal_pairwise_assignment():
    head = EENDDiarHead(D, num_spk=S)
    feats, feats_lens, labels = make_batch(3)
    _, _, perm = head(feats, feats_lens, spk_labels=labels)
    out = head.infer(feats, feats_lens)
    cost = head.pairwise_cost(out["logits"], labels, out["activity_lengths"]).detach()
    for b in range(2):
        best = min(
            sum(float(cost[b, s, k]) for k, s in enumerate(p))
            for p in permutations(range(S))
        )
        got = sum(float(cost[b, int(perm[b, k]), k]) for k in range(S))
        assert got == pytest.approx(best, abs=1e-6)


def test_fewer_label_columns_than_slots_are_absent_speakers():
    head = EENDDiarHead(D, num_spk=S)
    feats, feats_lens, labels = make_batch()
    loss_full, _, _ = head(feats, feats_lens, spk_labels=labels)
    loss_two, _, _ = head(feats, feats_lens, spk_labels=labels[:, :, :2])
    assert torch.allclose(loss_full, loss_two)


def test_pit_invariance():
    head = EENDDiarHead(D, num_spk=S)
    feats, feats_lens, labels = make_batch()
    loss, _, perm0 = head(feats, feats_lens, spk_labels=labels)
    for order in ([1, 0, 2], [2, 0, 1], [0, 2, 1]):
        loss_p, _, perm = head(feats, feats_lens, spk_labels=labels[:, :, order])
        assert torch.allclose(loss, loss_p)
        # label column k of the reordered labels is column order[k]: same slot
        for k in range(S):
            assert perm[0, k] == perm0[0, order[k]]


def test_perfect_prediction_and_speaker_count():
    head = EENDDiarHead(D, num_spk=S, min_active_frames=1)
    with torch.no_grad():
        lin = head.proj[-1]
        lin.weight.zero_()
        lin.bias.copy_(torch.tensor([8.0, -8.0, 8.0]))  # slots 0 and 2 always on
    feats = torch.randn(2, T, D)
    feats_lens = torch.tensor([T, 10])
    labels = torch.zeros(2, T, S)
    labels[:, :, 0] = 1
    labels[:, :, 1] = 1  # matched to slot 2 by PIT
    _, stats, perm = head(feats, feats_lens, spk_labels=labels)
    assert float(stats["der"]) == 0.0
    assert float(stats["spk_count_acc"]) == 1.0
    assert perm.tolist() == [[0, 2, 1], [0, 2, 1]]  # column 1 -> slot 2, slot 1 null
    assert head.estimate_num_spk(feats, feats_lens).tolist() == [2, 2]
    _, stats, _ = head(
        feats, feats_lens, spk_labels=labels, num_spk=torch.tensor([2, 1])
    )
    assert float(stats["spk_count_acc"]) == 0.5


def test_loss_falls_on_fixed_batch():
    torch.manual_seed(0)
    head = EENDDiarHead(D, num_spk=S, hidden_size=16)
    feats, feats_lens, labels = make_batch()
    opt = torch.optim.Adam(head.parameters(), lr=0.03)
    losses = []
    for _ in range(30):
        loss, _, _ = head(feats, feats_lens, spk_labels=labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_bad_inputs_raise_value_error():
    head = EENDDiarHead(D, num_spk=S)
    feats, feats_lens, labels = make_batch()
    with pytest.raises(ValueError, match="feats must be"):
        head(feats[:, :, :5], feats_lens, spk_labels=labels)
    with pytest.raises(ValueError, match="slots"):
        head(feats, feats_lens, spk_labels=labels, num_spk=torch.tensor([4, 1]))
    too_many = torch.cat([labels, torch.ones(2, T, 1)], dim=-1)
    with pytest.raises(ValueError, match="slots"):
        head(feats, feats_lens, spk_labels=too_many)
    with pytest.raises(ValueError, match="aligned"):
        head(feats, feats_lens, spk_labels=labels[:, :10])
    with pytest.raises(ValueError, match="feats_lens"):
        head(feats, feats_lens[:1], spk_labels=labels)
    with pytest.raises(ValueError, match="needs spk_labels"):
        head(feats, feats_lens)


def test_silent_batch_has_no_der():
    head = EENDDiarHead(D, num_spk=S)
    feats, feats_lens, labels = make_batch()
    loss, stats, _ = head(feats, feats_lens, spk_labels=torch.zeros_like(labels))
    assert torch.isfinite(loss)
    assert stats["der"] is None and stats["miss"] is None

import pytest
import torch

from espnet_echo.heads.diar_eend import EENDDiarHead, frame_labels

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
    loss, stats = head(feats, feats_lens, spk_labels=labels)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert set(stats) == {"loss", "der", "miss", "fa", "conf", "spk_count_acc"}
    assert torch.isclose(stats["der"], stats["miss"] + stats["fa"] + stats["conf"])
    assert 0.0 <= float(stats["spk_count_acc"]) <= 1.0
    loss.backward()
    assert all(p.grad is not None for p in head.parameters())
    assert head.last_perm.shape == (2, S)

    probs = head.inference(feats, feats_lens)
    assert probs.shape == (2, T, S)
    assert ((probs >= 0) & (probs <= 1)).all()
    assert (probs[1, 15:] == 0).all()


def test_fewer_label_columns_than_slots_are_absent_speakers():
    head = EENDDiarHead(D, num_spk=S)
    feats, feats_lens, labels = make_batch()
    loss_full, _ = head(feats, feats_lens, spk_labels=labels)
    loss_two, _ = head(feats, feats_lens, spk_labels=labels[:, :, :2])
    assert torch.allclose(loss_full, loss_two)


def test_pit_invariance():
    head = EENDDiarHead(D, num_spk=S)
    feats, feats_lens, labels = make_batch()
    loss, _ = head(feats, feats_lens, spk_labels=labels)
    for perm in ([1, 0, 2], [2, 0, 1], [0, 2, 1]):
        loss_p, _ = head(feats, feats_lens, spk_labels=labels[:, :, perm])
        assert torch.allclose(loss, loss_p)


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
    _, stats = head(feats, feats_lens, spk_labels=labels)
    assert float(stats["der"]) == 0.0
    assert float(stats["spk_count_acc"]) == 1.0
    assert head.estimate_num_spk(feats, feats_lens).tolist() == [2, 2]
    _, stats = head(feats, feats_lens, spk_labels=labels, num_spk=torch.tensor([2, 1]))
    assert float(stats["spk_count_acc"]) == 0.5


def test_loss_falls_on_fixed_batch():
    torch.manual_seed(0)
    head = EENDDiarHead(D, num_spk=S, hidden_size=16)
    feats, feats_lens, labels = make_batch()
    opt = torch.optim.Adam(head.parameters(), lr=0.03)
    losses = []
    for _ in range(30):
        loss, _ = head(feats, feats_lens, spk_labels=labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_frame_labels_hand_case():
    # 2 utterances, 10 samples, frame_shift 4 -> 3 frames
    sample = torch.zeros(2, 10, 2)
    sample[0, 0:3, 0] = 1  # 3/4 of frame 0 -> active
    sample[0, 4:6, 1] = 1  # 2/4 of frame 1 -> tie, not a majority
    sample[0, 8:10, 1] = 1  # frame 2 has 2 valid samples, both active -> active
    sample[1, :, 0] = 1  # active everywhere, but only 5 valid samples
    out = frame_labels(sample, torch.tensor([10, 5]), num_frames=4, frame_shift=4)
    expected = torch.zeros(2, 4, 2)
    expected[0, 0, 0] = 1
    expected[0, 2, 1] = 1
    expected[1, 0, 0] = 1  # frame 1 of utt 1 has 1 valid sample (active) -> active
    expected[1, 1, 0] = 1
    assert out.shape == (2, 4, 2)
    assert torch.equal(out, expected)
    # fewer frames than samples cover: truncation
    assert frame_labels(sample, torch.tensor([10, 5]), 1, 4).shape == (2, 1, 2)


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
    with pytest.raises(ValueError):
        frame_labels(torch.zeros(2, 10), torch.tensor([10, 10]), 3, 4)


def test_silent_batch_has_no_der():
    head = EENDDiarHead(D, num_spk=S)
    feats, feats_lens, labels = make_batch()
    loss, stats = head(feats, feats_lens, spk_labels=torch.zeros_like(labels))
    assert torch.isfinite(loss)
    assert stats["der"] is None and stats["miss"] is None

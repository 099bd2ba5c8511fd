import pytest
import torch

from espnet_echo.heads.abs_head import OUTPUT_KINDS
from espnet_echo.heads.spk_arcface import ArcFaceSpkHead

D, S, E, EMB = 16, 3, 8, 6


def make(**kw):
    conf = dict(
        encoder_output_size=D, num_spk=S, num_train_speakers=4, hidden_size=E,
        embed_dim=EMB, window_s=0.4, frame_shift_s=0.04, min_solo_frames=2,
    )
    conf.update(kw)
    return ArcFaceSpkHead(**conf)


def test_declarations_and_defaults():
    head = ArcFaceSpkHead(encoder_output_size=D, num_spk=2, num_train_speakers=5)
    assert head.ref_kinds == ("spk_labels", "spk_ids")
    assert head.output_kinds == ("speaker_frames",) and "speaker_frames" in OUTPUT_KINDS
    assert "num_train_speakers" in head.build_args
    assert (head.embed_dim, head.hidden_size) == (128, 256)
    assert (head.window_s, head.hop_s) == (1.5, 0.75)
    assert head.min_solo_frames == 5 and head.window_frames == 38  # 1.5 s / 40 ms
    assert head.aam.weight.shape == (5, 128)


def test_infer_shapes_and_padding():
    head = make()
    out = head.infer(torch.randn(2, 20, D), torch.tensor([20, 12]))
    assert out["speaker_frames"].shape == (2, 20, E)
    assert out["speaker_frames_lengths"].tolist() == [20, 12]
    assert (out["speaker_frames"][1, 12:] == 0).all()
    with pytest.raises(ValueError, match=r"feats must be \(B, T, 16\)"):
        head.infer(torch.randn(2, 20, D + 1), torch.tensor([20, 12]))


def test_embed_is_unit_norm_zero_for_empty_windows_and_order_free():
    torch.manual_seed(0)
    head = make()
    frames = head.infer(torch.randn(1, 20, D), torch.tensor([20]))["speaker_frames"]
    w = torch.zeros(1, 3, 20)
    w[0, 0, :10] = 1
    w[0, 1, 5:] = torch.rand(15)
    emb = head.embed(frames, w)
    assert emb.shape == (1, 3, EMB)
    assert torch.allclose(emb[0, :2].norm(dim=-1), torch.ones(2), atol=1e-5)
    assert (emb[0, 2] == 0).all()  # weights sum to 0: zero row
    perm = torch.randperm(20)
    emb_p = head.embed(frames[:, perm], w[:, :, perm])
    assert torch.allclose(emb, emb_p, atol=1e-5)
    # the same frames through infer in another order give the same embedding too
    feats = torch.randn(1, 20, D)
    f1 = head.infer(feats, torch.tensor([20]))["speaker_frames"]
    f2 = head.infer(feats[:, perm], torch.tensor([20]))["speaker_frames"]
    assert torch.allclose(head.embed(f1, w), head.embed(f2, w[:, :, perm]), atol=1e-5)
    # scaling the weights does not change a window
    assert torch.allclose(head.embed(frames, 3 * w), emb, atol=1e-5)


def test_embed_shape_errors():
    head = make()
    frames = torch.randn(2, 10, E)
    with pytest.raises(ValueError, match="speaker_frames must be"):
        head.embed(torch.randn(2, 10, E + 1), torch.ones(2, 1, 10))
    with pytest.raises(ValueError, match="weights must be"):
        head.embed(frames, torch.ones(2, 1, 11))
    with pytest.raises(ValueError, match="weights must be"):
        head.embed(frames, torch.ones(2, 10))
    with pytest.raises(ValueError, match="non-negative"):
        head.embed(frames, -torch.ones(2, 1, 10))


def test_training_windows_use_solo_frames_in_the_best_span():
    head = make()  # window: 10 frames
    lab = torch.zeros(2, 20, S)
    lab[0, :8, 0] = 1  # speaker 0 alone on 0..4, overlapped on 5..7
    lab[0, 5:20, 1] = 1  # speaker 1 alone on 8..19 (12 frames > window)
    lab[1, :15, 0] = 1
    w = head.training_windows(lab, torch.tensor([20, 12]))
    assert w.shape == (2, S, 20)
    assert w[0, 0].nonzero().view(-1).tolist() == [0, 1, 2, 3, 4]
    assert w[0, 1].nonzero().view(-1).tolist() == list(range(8, 18))  # first best span
    assert w[0, 2].sum() == 0
    assert w[1, 0].nonzero().view(-1).tolist() == list(range(10))  # first of the best spans


def test_loss_ignores_unknown_ids_overlap_and_short_windows():
    torch.manual_seed(0)
    head = make(min_solo_frames=3)
    out = head.infer(torch.randn(2, 20, D), torch.tensor([20, 20]))
    lab = torch.zeros(2, 20, S)
    lab[0, :10, 0] = 1
    lab[0, :10, 1] = 1  # speakers 0 and 1 always overlap: no solo frame
    lab[0, 10:12, 2] = 1  # speaker 2 alone for 2 frames < min_solo_frames
    lab[1, :, 0] = 1
    lab[1, 15:, 1] = 1
    ids = torch.tensor([[0, 1, 2], [3, -1, -1]])
    loss, stats, perm = head.loss(out, spk_labels=lab, spk_ids=ids)
    assert stats["num_windows"] == 1  # only (1, 0)
    assert perm.tolist() == [[0, 1, 2], [0, 1, 2]]
    w = head.training_windows(lab, torch.tensor([20, 20]))
    assert w[0, :2].sum() == 0 and w[1, 1].sum() == 0  # overlapped frames: no window
    assert w[1, 0].nonzero().view(-1).tolist() == list(range(10))
    emb = head.embed(out["speaker_frames"], w)[1:2, 0]
    ref, acc, _ = head.aam(emb, torch.tensor([3]))
    assert torch.allclose(loss, ref) and stats["acc"] == acc
    # the unknown speaker (-1) is never scored, even with enough solo frames
    lab[1, :, 1] = 0
    lab[1, 15:, 0] = 0
    lab[1, 15:, 2] = 1
    assert head.training_windows(lab, torch.tensor([20, 20]))[1, 2].sum() == 5
    _, stats, _ = head.loss(out, spk_labels=lab, spk_ids=ids)
    assert stats["num_windows"] == 1


def test_no_window_gives_a_zero_loss_that_reaches_every_parameter():
    head = make()
    out = head.infer(torch.randn(1, 20, D), torch.tensor([20]))
    lab = torch.ones(1, 20, S)  # everyone overlaps everywhere
    loss, stats, _ = head.loss(out, spk_labels=lab, spk_ids=torch.tensor([[0, 1, 2]]))
    assert loss.item() == 0 and stats["acc"] is None and stats["num_windows"] == 0
    loss.backward()
    assert all(p.grad is not None for p in head.parameters())


def test_loss_input_errors():
    head = make()
    out = head.infer(torch.randn(1, 20, D), torch.tensor([20]))
    lab = torch.zeros(1, 20, S)
    with pytest.raises(ValueError, match="num_train_speakers=4"):
        head.loss(out, spk_labels=lab, spk_ids=torch.tensor([[4, -1, -1]]))
    with pytest.raises(ValueError, match="aligned to the encoder frames"):
        head.loss(out, spk_labels=torch.zeros(1, 19, S), spk_ids=torch.tensor([[0]]))
    with pytest.raises(ValueError, match="spk_ids must be"):
        head.loss(out, spk_labels=lab, spk_ids=torch.tensor([0]))
    with pytest.raises(ValueError, match="beyond"):
        head.loss(out, spk_labels=lab, spk_ids=torch.tensor([[0, 1, 2, 3]]))
    with pytest.raises(ValueError, match="needs spk_labels and spk_ids"):
        head.loss(out, spk_labels=lab)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(num_train_speakers=0), "num_train_speakers"),
        (dict(min_solo_frames=11), r"min_solo_frames must be in 1..10"),
        (dict(window_s=0.0), "window_s"),
        (dict(margin=2.0), "margin"),
    ],
)
def test_bad_construction(kw, match):
    with pytest.raises(ValueError, match=match):
        make(**kw)


def test_toy_training_separates_two_speakers():
    """Two 'speakers' whose features differ in mean: loss falls, accuracy rises."""
    torch.manual_seed(0)
    head = make(num_train_speakers=2, window_s=0.4, min_solo_frames=3)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    means = torch.randn(2, D)

    def batch():
        ids = torch.randint(0, 2, (8, 1))
        feats = means[ids[:, 0]][:, None, :] + 1.5 * torch.randn(8, 20, D)
        lab = torch.zeros(8, 20, S)
        lab[:, :, 0] = 1
        return feats, lab, torch.cat([ids, torch.full((8, S - 1), -1)], dim=1)

    history = []
    for _ in range(40):
        feats, lab, ids = batch()
        out = head.infer(feats, torch.full((8,), 20))
        loss, stats, _ = head.loss(out, spk_labels=lab, spk_ids=ids)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append((loss.item(), stats["acc"].item()))
    first = sum(h[0] for h in history[:5]) / 5
    last = sum(h[0] for h in history[-5:]) / 5
    acc_first = sum(h[1] for h in history[:5]) / 5
    acc_last = sum(h[1] for h in history[-5:]) / 5
    print(f"toy ArcFace: loss {first:.3f} -> {last:.3g}, "
          f"acc {acc_first:.2f} -> {acc_last:.2f}")
    assert last < 0.5 * first
    assert acc_last >= 0.95 and acc_last > acc_first

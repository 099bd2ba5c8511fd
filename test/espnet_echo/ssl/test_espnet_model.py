import numpy as np
import pytest
import torch
from espnet2.asr.frontend.default import DefaultFrontend
from espnet2.layers.utterance_mvn import UtteranceMVN

from espnet_echo.encoder.echo_vit import EchoViTEncoder
from espnet_echo.ssl.espnet_model import ESPnetJEPAModel, masked_latent_loss, pool_to_tokens
from espnet_echo.ssl.gmm import DiagonalGMM
from espnet_echo.ssl.predictor import JEPAPredictor

MELS, D = 16, 32


def make_gmm(path, k=6, dim=MELS, seed=0):
    gen = torch.Generator().manual_seed(seed)
    gmm = DiagonalGMM(torch.randn(k, dim, generator=gen) - 5.0, torch.ones(k, dim) * 4.0,
                      torch.full((k,), 1.0 / k))
    gmm.save(path)
    return str(path)


def build(**model_conf):
    torch.manual_seed(0)
    encoder = EchoViTEncoder(input_size=MELS, output_size=D, num_blocks=2,
                             attention_heads=2, linear_units=32)
    return ESPnetJEPAModel(
        frontend=DefaultFrontend(n_fft=128, win_length=128, hop_length=64, n_mels=MELS),
        specaug=None,
        normalize=UtteranceMVN(),
        encoder=encoder,
        predictor=JEPAPredictor(input_size=D, output_size=16, attention_heads=2,
                                linear_units=32, num_blocks=1),
        subsampling=encoder.subsampling_factor,
        min_span=2, max_span=4,
        **model_conf,
    )


def batch():
    torch.manual_seed(1)
    return dict(speech=torch.randn(2, 8000) * 0.1, speech_lengths=torch.tensor([8000, 6000]))


def test_loss_only_on_masked_tokens():
    pred, target = torch.randn(2, 10, 8), torch.randn(2, 10, 8)
    mask = torch.zeros(2, 10, dtype=torch.bool)
    mask[0, 2:5] = mask[1, 6:8] = True
    for loss_type in ("mse", "smooth_l1"):
        loss = masked_latent_loss(pred, target, mask, loss_type)
        changed = target.clone()
        changed[~mask] = 123.0
        assert torch.equal(masked_latent_loss(pred, changed, mask, loss_type), loss)
        changed[0, 3] += 1.0
        assert masked_latent_loss(pred, changed, mask, loss_type) != loss
    expected = ((pred - target) ** 2)[mask].mean()
    torch.testing.assert_close(masked_latent_loss(pred, target, mask), expected)
    with pytest.raises(ValueError, match="no masked"):
        masked_latent_loss(pred, target, torch.zeros_like(mask))


def test_pool_to_tokens():
    frames = torch.arange(16.0).view(1, 8, 2).repeat(2, 1, 1)
    out = pool_to_tokens(frames, torch.tensor([8, 4]), torch.tensor([2, 1]), 3)
    assert out.shape == (2, 3, 2)
    torch.testing.assert_close(out[0, :2], torch.tensor([[3.0, 4.0], [11.0, 12.0]]))
    torch.testing.assert_close(out[1, 0], torch.tensor([3.0, 4.0]))
    assert not out[0, 2].any() and not out[1, 1:].any()


def test_training_step_ema_and_stats():
    model = build(ema_start=0.5, ema_end=0.5, ema_anneal_steps=10).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for step in range(3):
        before = [p.clone() for p in model.target_encoder.parameters()]
        context = [p.detach().clone() for p in model.encoder.parameters()]
        loss, stats, weight = model(**batch())
        m = 0.0 if step == 0 else 0.5
        for t, old, c in zip(model.target_encoder.parameters(), before, context):
            torch.testing.assert_close(t, old * m + c * (1 - m), rtol=0, atol=1e-6)
        opt.zero_grad()
        loss.backward()
        assert all(p.grad is None for p in model.target_encoder.parameters())
        opt.step()
    assert int(model.step) == 3 and not model.target_encoder.training
    for key in ("loss", "loss_jepa", "ema_momentum", "mask_ratio", "target_std", "pred_std",
                "target_eff_rank", "pred_eff_rank", "target_cos_sim"):
        assert key in stats and torch.isfinite(stats[key]).all(), key
    assert 0.3 < float(stats["mask_ratio"]) < 0.8 and int(weight) == 2
    # eval: no EMA step, deterministic masks
    model.eval()
    with torch.no_grad():
        a, _, _ = model(**batch())
        b, _, _ = model(**batch())
    assert torch.equal(a, b) and int(model.step) == 3


def test_step_counter_resumes():
    model = build().train()
    model(**batch())
    model(**batch())
    fresh = build()
    fresh.load_state_dict(model.state_dict())
    assert int(fresh.step) == 2


def test_bad_inputs():
    model = build().train()
    with pytest.raises(ValueError, match="non-empty"):
        model(speech=torch.zeros(2, 100), speech_lengths=torch.tensor([100, 0]))
    with pytest.raises(ValueError, match="shorter than one mask span"):
        model(speech=torch.randn(2, 8000), speech_lengths=torch.tensor([8000, 200]))


def test_gmm_anchor(tmp_path):
    model = build(gmm_file=make_gmm(tmp_path / "gmm.npz"), anchor_decay_steps=4).train()
    state = model.state_dict()
    assert "gmm_digest" in state and not any(k.startswith("gmm.") for k in state)
    assert model.cluster_head.out_features == 6
    weights = []
    for _ in range(5):
        loss, stats, _ = model(**batch())
        loss.backward()
        weights.append(float(stats["anchor_weight"]))
        assert stats["loss"] == pytest.approx(
            float(stats["loss_jepa"]) + weights[-1] * float(stats["loss_cluster"]), rel=1e-5)
        assert 0.0 <= float(stats["cluster_entropy"]) <= 1.0
        assert float(stats["loss_cluster"]) >= 0.0
    assert weights == pytest.approx([1.0, 0.7525, 0.505, 0.2575, 0.01])
    assert model.cluster_head.weight.grad is not None


def test_gmm_digest_mismatch_on_load(tmp_path):
    a = build(gmm_file=make_gmm(tmp_path / "a.npz", seed=0))
    b = build(gmm_file=make_gmm(tmp_path / "b.npz", seed=1))
    b.load_state_dict(build(gmm_file=str(tmp_path / "b.npz")).state_dict())  # same GMM: ok
    with pytest.raises(ValueError, match=a.gmm.digest() + ".*" + b.gmm.digest()):
        b.load_state_dict(a.state_dict())


def test_gmm_feat_dim_mismatch(tmp_path):
    with pytest.raises(ValueError, match="feat_dim 20.*16 mel bins"):
        build(gmm_file=make_gmm(tmp_path / "g.npz", dim=20))


def test_collect_feats():
    feats = build().collect_feats(**batch())
    assert feats["feats"].shape[-1] == MELS and feats["feats_lengths"].tolist()[0] > 0
    assert np.all(feats["feats_lengths"].numpy() > 0)

"""The frozen target encoder, the source_latents reference and the anchor term."""

import pytest
import torch
from espnet2.asr.frontend.default import DefaultFrontend
from espnet2.torch_utils.load_pretrained_model import load_pretrained_model

from espnet_echo.encoder.echo_vit import EchoViTEncoder
from espnet_echo.heads.diar_eend import EENDDiarHead
from espnet_echo.heads.sep_kset import KSetSepHead
from espnet_echo.unified.espnet_model import ESPnetEchoModel, count_encoder_layers
from espnet_echo.unified.references import BatchContext, reference_kind

S, D, HOP = 3, 16, 64


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def build(kset=True, diar=True, anchor_weight=0.0, dropout=0.0, seed=0):
    torch.manual_seed(seed)
    frontend = DefaultFrontend(n_fft=128, win_length=128, hop_length=HOP, n_mels=16)
    encoder = EchoViTEncoder(
        input_size=16, output_size=D, num_blocks=2, attention_heads=2, linear_units=32,
        dropout_rate=dropout, positional_dropout_rate=dropout,
    )
    return ESPnetEchoModel(
        frontend=frontend, specaug=None, normalize=None, encoder=encoder, num_spk=S,
        frame_shift=HOP * encoder.subsampling_factor,
        num_layers=count_encoder_layers(encoder, 16),
        diar_head=EENDDiarHead(encoder_output_size=D, num_spk=S) if diar else None,
        sep_head=(KSetSepHead(D, S, hidden_size=16, num_layers=1, attention_heads=2,
                              linear_units=16) if kset else None),
        asr_head=None, spk_head=None, anchor_weight=anchor_weight,
    )


def batch(k=(2, 0), n=4000, short=None):
    bs = len(k)
    ref = torch.zeros(bs, n, S)
    labels = torch.zeros(bs, n, S)
    for b, kb in enumerate(k):
        for s in range(kb):
            start = s * n // 4
            ref[b, start:, s] = torch.randn(n - start) * 0.1
            labels[b, start:, s] = 1
    if short is not None:  # (utterance, column, samples): a source shorter than a frame
        b, s, m = short
        ref[b, :, s] = 0
        ref[b, 100 : 100 + m, s] = 0.1
        labels[b, :, s] = 0
        labels[b, 100 : 100 + m, s] = 1
    return {
        "speech": ref.sum(-1) + 0.01 * torch.randn(bs, n),
        "speech_lengths": torch.tensor([n, n - 800][:bs]),
        "speech_ref": ref, "speech_ref_lengths": torch.full((bs,), n),
        "spk_labels": labels, "spk_labels_lengths": torch.full((bs,), n),
        "num_spk": torch.tensor(k).view(bs, 1),
    }


def test_models_without_kset_or_anchor_have_no_target_keys():
    plain = build(kset=False)
    assert plain.target_encoder is None
    assert not [k for k in plain.state_dict() if "target" in k]
    keys = set(plain.state_dict())
    with_kset = build(kset=True)
    extra = set(with_kset.state_dict()) - keys
    assert "target_initialised" in extra
    enc = {f"target_encoder.{k}" for k in with_kset.encoder.state_dict()}
    assert enc <= extra
    assert extra - enc == {"target_initialised"} | {
        k for k in extra if k.startswith(("heads.sep.", "rwse.sep."))}
    anchored = build(kset=False, anchor_weight=0.5)
    assert set(anchored.state_dict()) - keys == enc | {"target_initialised"}


def test_target_encoder_is_frozen_and_always_in_eval_mode():
    model = build()
    model.train()
    assert not model.target_encoder.training and model.encoder.training
    assert all(not p.requires_grad for p in model.target_encoder.parameters())
    assert int(model.target_initialised) == 0


def test_snapshot_at_the_first_training_forward_then_frozen():
    model = build()
    with torch.no_grad():  # stand-in for --init_param loading after construction
        for p in model.encoder.parameters():
            p.add_(0.05 * torch.randn_like(p))
    start = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    loss, stats, _ = model(**batch())
    assert int(model.target_initialised) == 1
    for k, v in model.target_encoder.state_dict().items():
        assert torch.equal(v, start[k]), k
    opt.zero_grad()
    loss.backward()
    assert all(p.grad is None for p in model.target_encoder.parameters())
    opt.step()
    assert not torch.equal(model.encoder.state_dict()["embed.proj.weight"],
                           start["embed.proj.weight"])
    model(**batch())  # no re-snapshot of the trained encoder
    for k, v in model.target_encoder.state_dict().items():
        assert torch.equal(v, start[k]), k


def test_checkpoint_keeps_the_targets():
    model = build()
    model.train()
    model(**batch())
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(1.0)
    resumed = build(seed=1)
    resumed.load_state_dict(model.state_dict())
    assert int(resumed.target_initialised) == 1
    resumed.train()
    resumed(**batch())
    for k, v in resumed.target_encoder.state_dict().items():
        assert torch.equal(v, model.target_encoder.state_dict()[k])


def test_eval_before_any_training_uses_the_live_encoder_without_snapshot():
    model = build()
    model.eval()
    x = batch()
    with torch.no_grad():
        _, stats, _ = model(**x)
    assert int(model.target_initialised) == 0
    lat = model.target_latents(x["speech"], x["speech_lengths"])
    last, _, lens = model.encode(x["speech"], x["speech_lengths"])
    valid = (torch.arange(last.shape[1])[None, :] < lens[:, None])[:, :, None]
    assert torch.allclose(lat, last * valid, atol=1e-5)
    assert torch.all(lat[1, int(lens[1]):] == 0)


def test_anchor_term():
    model = build(kset=False, anchor_weight=2.0)
    model.train()
    loss, stats, _ = model(**batch())
    # first step, no dropout: the snapshot is the encoder, the anchor is 0
    assert float(stats["loss_anchor"]) == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(0.05 * torch.randn_like(p))
    loss2, stats2, _ = model(**batch())
    assert float(stats2["loss_anchor"]) > 0
    assert float(stats2["loss"]) == pytest.approx(
        float(stats2["loss_diar"]) * model.weights["diar"]
        + 2.0 * float(stats2["loss_anchor"]), rel=1e-4)
    assert "loss_anchor" not in build(kset=True)(**batch())[1]
    with pytest.raises(ValueError, match="anchor_weight"):
        build(anchor_weight=-1.0)


def test_inference_and_probes_run_one_encoder_pass():
    model = build()
    calls = []
    model.target_encoder.register_forward_hook(lambda *a: calls.append("target"))
    model.encoder.register_forward_hook(lambda *a: calls.append("encoder"))
    x = batch()
    out = model.infer(x["speech"], x["speech_lengths"])
    assert set(out) == {"diar", "sep"} and calls == ["encoder"]
    model.task_features(x["speech"], x["speech_lengths"])
    assert calls == ["encoder", "encoder"]
    feats = model.collect_feats(x["speech"], x["speech_lengths"])
    assert feats["feats"].shape[-1] == 16 and calls == ["encoder", "encoder"]
    assert out["sep"]["slot_latents"].shape[:2] == (2, S)


def test_source_latents_reference():
    model = build()
    model.eval()
    frame = model.frame_shift
    x = batch(k=(3, 1), short=(0, 2, frame - 1))  # source 3 of utt 0: < one frame
    refs = model.references(x, x["speech"], x["speech_lengths"],
                            model.encode(x["speech"], x["speech_lengths"])[0].shape[1])
    r = refs["sep"]
    assert r["num_sources"].tolist() == [2, 1] and r["short_sources"].tolist() == [1, 0]
    t = r["mixture_latents"].shape[1]
    assert r["source_latents"].shape == (2, S, t, D)
    assert torch.all(r["source_latents"][0, 2] == 0)
    assert torch.all(r["source_latents"][1, 1:] == 0)
    one = model.target_latents(x["speech_ref"][:1, :, 1], x["speech_lengths"][:1])
    assert torch.allclose(r["source_latents"][0, 1], one[0], atol=1e-5)
    # exactly one frame long counts
    x = batch(k=(3, 1), short=(0, 2, frame))
    r = model.references(x, x["speech"], x["speech_lengths"], t)["sep"]
    assert r["num_sources"].tolist() == [3, 1]


def test_source_latents_bad_input():
    model = build()
    x = batch(k=(2, 1))
    t = model.encode(x["speech"], x["speech_lengths"])[0].shape[1]
    with pytest.raises(ValueError, match=r"num_spk \[3, 1\] must be in \[0, 2\]"):
        model.references({**x, "num_spk": torch.tensor([[3], [1]]),
                          "speech_ref": x["speech_ref"][:, :, :2]},
                         x["speech"], x["speech_lengths"], t)
    four = {**x, "speech_ref": torch.zeros(2, 4000, 4)}
    with pytest.raises(ValueError, match="4 speakers in a mixture but the model has"):
        model.references(four, x["speech"], x["speech_lengths"], t)
    no_ref = {k: v for k, v in x.items() if k != "speech_ref"}
    with pytest.raises(ValueError, match="has no 'speech_ref'"):
        model.references(no_ref, x["speech"], x["speech_lengths"], t)
    ctx = BatchContext(speech=x["speech"], speech_lengths=x["speech_lengths"],
                       num_slots=S, num_frames=t, frame_shift=model.frame_shift)
    with pytest.raises(ValueError, match="frozen target encoder"):
        reference_kind("source_latents").build(x, ctx)


def test_noise_only_batch_trains():
    model = build()
    model.train()
    loss, stats, _ = model(**batch(k=(0, 0)))
    loss.backward()
    assert stats["sep_pit_acc"] is None and stats["sep_k_acc"] is not None


def test_chaining_init_param_across_stages(tmp_path):
    src = build()
    src.train()
    src(**batch())
    path = tmp_path / "kset.pth"
    torch.save(src.state_dict(), path)
    plain = build(kset=False)
    with pytest.raises(RuntimeError, match="target"):  # the keys must be excluded
        load_pretrained_model(str(path), plain, ignore_init_mismatch=False)
    load_pretrained_model(f"{path}:::target_encoder,target_initialised,heads.sep,rwse.sep",
                          plain, ignore_init_mismatch=False)
    assert torch.equal(plain.encoder.state_dict()["embed.proj.weight"],
                       src.encoder.state_dict()["embed.proj.weight"])
    fresh = build(seed=3)  # re-snapshot: exclude the target keys, the flag stays 0
    load_pretrained_model(f"{path}:::target_encoder,target_initialised", fresh, False)
    assert int(fresh.target_initialised) == 0

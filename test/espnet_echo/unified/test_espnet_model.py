import pytest
import torch
from espnet2.asr.frontend.default import DefaultFrontend

from espnet_echo.encoder.echo_vit import EchoViTEncoder
from espnet_echo.heads.asr_multispkr import MultiSpkrASRHead
from espnet_echo.heads.diar_eend import EENDDiarHead
from espnet_echo.heads.sep_tasnet import TasNetSepHead
from espnet_echo.unified.espnet_model import ESPnetEchoModel, count_encoder_layers

S, D, V = 3, 32, 12


def build(heads=("diar", "sep", "asr"), rwse_mode="rwse", **weights):
    frontend = DefaultFrontend(n_fft=128, win_length=128, hop_length=64, n_mels=16)
    encoder = EchoViTEncoder(
        input_size=16, output_size=D, num_blocks=2, attention_heads=2, linear_units=32
    )
    make = {
        "diar": lambda: EENDDiarHead(encoder_output_size=D, num_spk=S),
        "sep": lambda: TasNetSepHead(
            encoder_output_size=D, num_spk=S, enc_channels=16, tcn_bottleneck=16,
            tcn_hidden=32, tcn_layers=2, tcn_stacks=1,
        ),
        "asr": lambda: MultiSpkrASRHead(
            encoder_output_size=D, vocab_size=V, token_list=None, num_spk=S,
            linear_units=32, attention_heads=2,
            decoder_conf={"num_blocks": 1, "linear_units": 32, "attention_heads": 2},
        ),
    }
    kw = {f"{t}_head": (make[t]() if t in heads else None) for t in ("diar", "sep", "asr")}
    return ESPnetEchoModel(
        frontend=frontend, specaug=None, normalize=None, encoder=encoder, num_spk=S,
        frame_shift=64 * encoder.subsampling_factor,
        num_layers=count_encoder_layers(encoder, 16), rwse_mode=rwse_mode, **kw, **weights,
    )


def batch(k=(2, 1), n=4000):
    B = len(k)
    ref = torch.zeros(B, n, max(k))
    labels = torch.zeros(B, n, max(k))
    for b, kb in enumerate(k):
        for s in range(kb):
            start = s * n // 4
            ref[b, start:, s] = torch.randn(n - start) * 0.1
            labels[b, start:, s] = 1
    out = {
        "speech": ref.sum(-1) + 0.01 * torch.randn(B, n),
        "speech_lengths": torch.tensor([n, n - 800][:B]),
        "speech_ref": ref, "speech_ref_lengths": torch.full((B,), n),
        "spk_labels": labels, "spk_labels_lengths": torch.full((B,), n),
        "num_spk": torch.tensor(k).view(B, 1),
    }
    for s in range(1, S + 1):
        toks = [torch.randint(2, V - 1, (4,)) if s <= kb else torch.zeros(0, dtype=torch.long)
                for kb in k]
        L = max(1, max(len(t) for t in toks))
        pad = torch.full((B, L), -1, dtype=torch.long)
        for b, t in enumerate(toks):
            pad[b, : len(t)] = t
        out[f"text_spk{s}"] = pad
        out[f"text_spk{s}_lengths"] = torch.tensor([len(t) for t in toks])
    return out


@pytest.mark.parametrize("training", [True, False])
def test_joint_forward_backward(training):
    model = build()
    model.train(training)
    loss, stats, weight = model(**batch())
    assert torch.isfinite(loss) and int(weight) == 2
    for key in ("loss_diar", "loss_sep", "loss_asr", "rwse_diar_w1", "rwse_asr_w2"):
        assert key in stats, key
    if training:
        loss.backward()
        assert model.rwse["sep"].weights.grad is not None


def test_loss_is_weighted_sum_of_heads():
    torch.manual_seed(0)
    model = build(diar_weight=1.0, sep_weight=0.0, asr_weight=2.0).eval()
    loss, stats, _ = model(**batch())
    expect = stats["loss_diar"] + 2.0 * stats["loss_asr"]
    assert torch.allclose(loss, expect, rtol=1e-5)


def test_heads_can_be_switched_off_and_need_only_their_labels():
    model = build(heads=("diar",))
    b = {k: v for k, v in batch().items() if not k.startswith(("text", "speech_ref"))}
    loss, stats, _ = model(**b)
    assert "loss_sep" not in stats and "loss_asr" not in stats


def test_missing_labels_give_clear_error():
    model = build(heads=("sep",))
    b = batch()
    del b["speech_ref"]
    with pytest.raises(ValueError, match="speech_ref"):
        model(**b)


def test_more_speakers_than_slots_is_an_error():
    model = build(heads=("diar",))
    b = batch(k=(2, 1))
    b["spk_labels"] = torch.zeros(2, 4000, S + 1)
    with pytest.raises(ValueError, match="num_spk=3 slots"):
        model(**b)


def test_last_layer_ablation_has_no_layer_stats():
    model = build(rwse_mode="last")
    _, stats, _ = model(**batch())
    assert not any(k.startswith("rwse_") for k in stats)


def test_no_head_is_an_error():
    with pytest.raises(ValueError, match="at least one"):
        build(heads=())


def test_collect_feats_returns_frontend_features():
    model = build()
    b = batch()
    feats = model.collect_feats(b["speech"], b["speech_lengths"])
    assert feats["feats"].shape[-1] == 16
    assert feats["feats_lengths"].tolist()[0] == 4000 // 64 + 1

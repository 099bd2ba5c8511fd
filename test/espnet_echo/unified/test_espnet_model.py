import hashlib

import pytest
import torch
from espnet2.asr.frontend.default import DefaultFrontend

from espnet_echo.encoder.echo_vit import EchoViTEncoder
from espnet_echo.heads.abs_head import AbsEchoHead
from espnet_echo.heads.asr_multispkr import MultiSpkrASRHead
from espnet_echo.heads.diar_eend import EENDDiarHead
from espnet_echo.heads.sep_tasnet import TasNetSepHead
from espnet_echo.heads.spk_arcface import ArcFaceSpkHead
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
        "spk": lambda: ArcFaceSpkHead(
            encoder_output_size=D, num_spk=S, num_train_speakers=5, hidden_size=16,
            embed_dim=8, frame_shift_s=256 / 16000, window_s=0.5, min_solo_frames=2,
        ),
    }
    kw = {f"{t}_head": (make[t]() if t in heads else None)
          for t in ("diar", "sep", "asr", "spk")}
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
    out["spk_ids"] = torch.tensor([[0, 4], [2, -1]])[:B, : max(k)]
    out["spk_ids_lengths"] = torch.tensor(k)
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


@pytest.mark.parametrize(
    "heads, drop, match",
    [
        (("sep",), "speech_ref", "'speech_ref.scp,speech_ref,variable_columns_sound'"),
        (("sep",), "num_spk", "'utt2num_spk,num_spk,text_int'"),
        (("diar",), "spk_labels", "'espnet_rttm,spk_labels,rttm'"),
        (("asr",), "text_spk2", "text_spk1..text_spk3, empty lines for absent"),
    ],
)
def test_missing_labels_give_clear_error(heads, drop, match):
    model = build(heads=heads)
    b = batch()
    del b[drop]
    with pytest.raises(ValueError, match=rf"'{heads[0]}' head .* no '{drop}' \(.*{match}"):
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


def test_head_losses_return_each_heads_perm_and_forward_matches():
    torch.manual_seed(0)
    model = build().eval()
    b = batch()
    out = model.head_losses(**b)
    assert list(out) == ["diar", "sep", "asr"]
    for task, (loss, stats, perm) in out.items():
        assert perm.shape == (2, S) and sorted(perm[1].tolist()) == list(range(S)), task
    # sep: utterance 1 has one reference, so perm[1, 1:] are its null slots, ascending
    assert out["sep"][2][1, 1:].tolist() == sorted(out["sep"][2][1, 1:].tolist())
    loss, stats, _ = model(**b)
    expect = sum(0.33 * out[t][0] for t in out)
    assert torch.allclose(loss, expect, rtol=1e-5)
    assert not any(hasattr(h, "last_perm") for h in model.heads.values())


def test_infer_runs_the_encoder_once_and_returns_every_heads_output():
    model = build().train()
    b = batch()
    calls = []
    model.encoder.register_forward_hook(lambda *a: calls.append(1))
    out = model.infer(b["speech"], b["speech_lengths"], {"beam_size": 1, "ctc_weight": 0.5})
    assert len(calls) == 1 and model.training  # one pass; the mode is restored
    assert set(out) == {"diar", "sep", "asr"}
    assert out["diar"]["activity"].shape[::2] == (2, S)
    assert out["sep"]["sources"].shape == (2, S, 4000)
    assert out["sep"]["source_energy_db"].shape == (2, S)
    assert out["asr"]["tokens"].shape[:2] == (2, S)
    assert out["asr"]["token_lengths"].shape == (2, S)
    assert model.output_kinds == ("activity", "sources", "tokens")
    assert not out["sep"]["sources"].requires_grad
    # the outputs are the heads' own infer() on the fused features (eval mode)
    model.eval()
    last, hs, lens = model.encode(b["speech"], b["speech_lengths"])
    with torch.no_grad():
        probs = model.heads["diar"].infer(model.fuse("diar", last, hs), lens)["activity"]
    assert torch.allclose(out["diar"]["activity"], probs, atol=1e-6)
    with pytest.raises(ValueError, match="speech"):
        model.infer(b["speech"][0], b["speech_lengths"])


class _CountHead(AbsEchoHead):
    """A head the model has never heard of: predicts K from mean-pooled features."""

    ref_kinds = ("num_spk",)
    output_kinds = ()

    def __init__(self, encoder_output_size, num_spk):
        super().__init__(encoder_output_size, num_spk)
        self.lin = torch.nn.Linear(encoder_output_size, num_spk + 1)

    def infer(self, feats, feats_lens, speech=None, speech_lengths=None):
        self._check_feats(feats, feats_lens)
        return {"logits": self.lin(feats.mean(1))}

    def loss(self, output, num_spk=None, **kwargs):
        loss = torch.nn.functional.cross_entropy(output["logits"], num_spk)
        perm = torch.arange(self.num_spk).expand(num_spk.shape[0], -1)
        return loss, {"loss": loss.detach()}, perm


def test_a_new_head_needs_only_its_declaration():
    frontend = DefaultFrontend(n_fft=128, win_length=128, hop_length=64, n_mels=16)
    encoder = EchoViTEncoder(
        input_size=16, output_size=D, num_blocks=2, attention_heads=2, linear_units=32
    )
    model = ESPnetEchoModel(
        frontend=frontend, specaug=None, normalize=None, encoder=encoder,
        diar_head=None, sep_head=_CountHead(D, S), asr_head=None, spk_head=None, num_spk=S,
        frame_shift=256, num_layers=count_encoder_layers(encoder, 16),
    )
    b = {k: v for k, v in batch().items() if k in ("speech", "speech_lengths", "num_spk")}
    loss, stats, _ = model(**b)
    assert torch.isfinite(loss) and "loss_sep" in stats
    del b["num_spk"]
    with pytest.raises(ValueError, match="'utt2num_spk,num_spk,text_int'"):
        model(**b)


def test_unknown_reference_kind_is_rejected_at_construction():
    class Bad(_CountHead):
        ref_kinds = ("no_such_kind",)

    with pytest.raises(ValueError, match="unknown reference kind 'no_such_kind'"):
        ESPnetEchoModel(
            frontend=None, specaug=None, normalize=None,
            encoder=EchoViTEncoder(input_size=16, output_size=D, num_blocks=1,
                                   attention_heads=2, linear_units=32),
            diar_head=Bad(D, S), sep_head=None, asr_head=None, spk_head=None, num_spk=S,
            frame_shift=4, num_layers=1,
        )


def test_parameter_names_are_those_of_packed_models():
    """Checkpoints name heads.<task>.* and rwse.<task>.*; the layout must not move.

    The count and digest are those of ``build()``'s state dict before the head
    contract was introduced (commit de78260), so older checkpoints still load.
    """
    keys = sorted(build().state_dict())
    for key in ("heads.diar.proj.1.weight", "heads.sep.encoder.conv1d.weight",
                "heads.sep.tcn.network.1.weight", "heads.asr.ctc.ctc_lo.weight",
                "heads.asr.decoder.embed.0.weight", "heads.asr.encoders_sd.0.0.norm1.weight",
                "rwse.diar.weights", "rwse.sep.weights", "rwse.asr.weights",
                "encoder.embed.proj.weight"):
        assert key in keys, key
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()
    assert (len(keys), digest) == (
        167, "5a8037d23949028173833c4a65c6c03f65b525a025ff5229a56b8fa360244232"
    )


def test_speaker_head_alone_and_with_diarization():
    torch.manual_seed(0)
    for heads in (("spk",), ("diar", "spk")):
        model = build(heads=heads)
        b = batch()
        loss, stats, _ = model(**b)
        loss.backward()
        assert torch.isfinite(loss) and "loss_spk" in stats, heads
        # (0, 0) and (1, 0); source 1 of mixture 0 is always overlapped
        assert stats["spk_num_windows"] == 2 and stats["spk_acc"] is not None
        assert list(model.heads) == list(heads)
        assert model.heads["spk"].frame_proj[1].weight.grad is not None
    # one encoder pass gives the speaker frames at inference
    out = model.infer(b["speech"], b["speech_lengths"])
    assert out["spk"]["speaker_frames"].shape[::2] == (2, 16)
    assert model.output_kinds == ("activity", "speaker_frames")


def test_speaker_head_references_need_spk_ids_and_fit_the_slots():
    model = build(heads=("diar", "spk"))
    b = batch()
    del b["spk_ids"]
    with pytest.raises(ValueError, match="make_spk_ids"):
        model(**b)
    b = batch()
    b["spk_ids"] = torch.tensor([[0, 1, 2, 3], [0, -1, -1, -1]])
    with pytest.raises(ValueError, match="spk_ids .* 4 speakers .* num_spk=3"):
        model(**b)
    b["spk_ids"] = torch.tensor([[0, 5], [1, -1]])  # 5 >= num_train_speakers
    with pytest.raises(ValueError, match="num_train_speakers=5"):
        model(**b)


def test_task_features_and_infer_select_tasks():
    model = build(heads=("diar", "sep", "asr", "spk")).train()
    b = batch()
    calls = []
    model.encoder.register_forward_hook(lambda *a: calls.append(1))
    feats = model.task_features(b["speech"], b["speech_lengths"], tasks=["spk", "diar"])
    assert list(feats) == ["diar", "spk"] and len(calls) == 1 and model.training
    f, lens = feats["spk"]
    assert f.shape[0] == 2 and f.shape[2] == D and not f.requires_grad
    assert lens.tolist()[0] == f.shape[1]
    assert set(model.task_features(b["speech"], b["speech_lengths"])) == {
        "diar", "sep", "asr", "spk"}
    model.eval()
    last, hs, _ = model.encode(b["speech"], b["speech_lengths"])
    assert torch.allclose(f, model.fuse("spk", last, hs), atol=1e-6)
    out = model.infer(b["speech"], b["speech_lengths"], {"tasks": ("spk",)})
    assert list(out) == ["spk"]
    with pytest.raises(ValueError, match=r"unknown task\(s\) \['nope'\].*'diar', 'sep'"):
        model.infer(b["speech"], b["speech_lengths"], {"tasks": ["nope"]})
    with pytest.raises(ValueError, match="unknown task"):
        build(heads=("diar",)).task_features(b["speech"], b["speech_lengths"], ["spk"])

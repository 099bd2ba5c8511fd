import math
from pathlib import Path

import pytest
import torch
import yaml
from typeguard import TypeCheckError

from espnet2.asr.encoder.abs_encoder import AbsEncoder
from espnet2.asr.encoder.e_branchformer_encoder import EBranchformerEncoder
from espnet2.legacy.nets.pytorch_backend.nets_utils import make_pad_mask
from espnet_echo.encoder.echo_vit import EchoViTEncoder

CONF = Path(__file__).resolve().parents[3] / "conf" / "encoder"
F = 80


def _conf(name):
    with open(CONF / f"{name}.yaml") as f:
        return yaml.safe_load(f)


def _tiny(**overrides):
    conf = _conf("echo_tiny")
    assert conf["encoder"] == "echo_vit"
    kwargs = {**conf["encoder_conf"], **overrides}
    return EchoViTEncoder(input_size=F, **kwargs)


def _nparams(module):
    return sum(p.numel() for p in module.parameters())


def test_25m_config_parameter_count():
    conf = _conf("echo_25m")
    assert conf["encoder"] == "echo_vit"
    enc = EchoViTEncoder(input_size=F, **conf["encoder_conf"])
    n = _nparams(enc)
    assert abs(n - 25e6) <= 0.05 * 25e6, n
    assert n == 25_385_472
    # The constructor defaults are the paper size as well.
    assert _nparams(EchoViTEncoder(input_size=F)) == n
    assert enc.output_size() == 512 and len(enc.encoders) == 8


def test_interface():
    enc = _tiny()
    assert isinstance(enc, AbsEncoder)
    assert enc.output_size() == 64
    assert enc.subsampling_factor == 4
    assert isinstance(enc.subsampling_factor, int)
    assert _tiny(patch_frames=4, patch_stride=2).subsampling_factor == 2


@pytest.mark.parametrize("tlen", [37, 40, 41])
def test_shapes_and_olens(tlen):
    enc = _tiny().eval()
    ilens = torch.tensor([tlen, 13, 1])
    out, olens, states = enc(torch.randn(3, tlen, F), ilens)
    assert out.shape == (3, math.ceil(tlen / 4), 64)
    assert olens.tolist() == [math.ceil(n / 4) for n in ilens.tolist()]
    assert states is None


def test_overlapping_patches():
    enc = _tiny(patch_frames=4, patch_stride=2).eval()
    out, olens, _ = enc(torch.randn(2, 21, F), torch.tensor([21, 8]))
    assert out.shape == (2, 11, 64)
    assert olens.tolist() == [11, 4]


def _all_hs_structure(enc, x, ilens):
    (out, hs), olens, states = enc(x, ilens, return_all_hs=True)
    assert isinstance(out, torch.Tensor) and isinstance(hs, list)
    assert len(hs) == len(enc.encoders)
    assert all(h.shape == out.shape for h in hs)
    assert states is None
    # `out` is the final LayerNorm of the last block output.
    torch.testing.assert_close(out, enc.after_norm(hs[-1]))
    return out, olens


def test_return_all_hs_matches_ebranchformer_contract():
    conf = _conf("ebf_tiny")
    assert conf["encoder"] == "e_branchformer"
    ebf = EBranchformerEncoder(input_size=F, **conf["encoder_conf"]).eval()
    enc = _tiny().eval()
    x, ilens = torch.randn(2, 64, F), torch.tensor([64, 40])
    with torch.no_grad():
        e_out, e_lens = _all_hs_structure(ebf, x, ilens)
        o_out, o_lens = _all_hs_structure(enc, x, ilens)
        plain, plain_lens, _ = enc(x, ilens)
    assert o_out.shape[-1] == e_out.shape[-1]
    assert o_lens.dtype == e_lens.dtype
    torch.testing.assert_close(plain, o_out)
    assert plain_lens.tolist() == o_lens.tolist() == [16, 10]


def test_masks_argument_equals_ilens():
    enc = _tiny().eval()
    x, ilens = torch.randn(2, 30, F), torch.tensor([30, 17])
    with torch.no_grad():
        ref, ref_lens, _ = enc(x, ilens)
        out, olens, _ = enc(x, ilens, masks=make_pad_mask(ilens))
    assert olens.tolist() == ref_lens.tolist()
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize("pos", ["abs_pos", "learned", "none"])
@pytest.mark.parametrize("use_sdpa", [True, False])
def test_padding_does_not_change_valid_outputs(pos, use_sdpa):
    torch.manual_seed(0)
    enc = _tiny(pos_enc_layer_type=pos, use_sdpa=use_sdpa).eval()
    x = torch.randn(2, 50, F)
    ilens = torch.tensor([50, 23])  # 23 frames: the last patch is partly padding
    x[1, 23:] = 100.0  # garbage padding
    with torch.no_grad():
        (batch, hs_b), olens, _ = enc(x, ilens, return_all_hs=True)
        (alone, hs_a), alone_lens, _ = enc(x[1:, :23], ilens[1:], return_all_hs=True)
    n = int(olens[1])
    assert n == int(alone_lens[0]) == 6
    torch.testing.assert_close(batch[1, :n], alone[0], atol=1e-5, rtol=1e-5)
    for hb, ha in zip(hs_b, hs_a):
        torch.testing.assert_close(hb[1, :n], ha[0], atol=1e-5, rtol=1e-5)


def test_sdpa_and_plain_attention_agree():
    torch.manual_seed(0)
    a = _tiny(use_sdpa=True).eval()
    b = _tiny(use_sdpa=False).eval()
    b.load_state_dict(a.state_dict())
    x, ilens = torch.randn(2, 33, F), torch.tensor([33, 20])
    with torch.no_grad():
        oa, la, _ = a(x, ilens)
        ob, lb, _ = b(x, ilens)
    n = int(la[1])
    torch.testing.assert_close(oa[0], ob[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(oa[1, :n], ob[1, :n], atol=1e-5, rtol=1e-5)


def test_gradient_flows_to_all_parameters_and_input():
    enc = _tiny(pos_enc_layer_type="learned").train()
    x = torch.randn(2, 24, F, requires_grad=True)
    (out, hs), olens, _ = enc(x, torch.tensor([24, 16]), return_all_hs=True)
    (out.sum() + sum(h.sum() for h in hs)).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert x.grad[1, 16:].abs().sum() == 0  # padding frames get no gradient
    for name, p in enc.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_learned_positions_have_a_limit():
    enc = _tiny(pos_enc_layer_type="learned", max_pos_emb_len=5).eval()
    enc(torch.randn(1, 20, F), torch.tensor([20]))
    with pytest.raises(ValueError, match="max_pos_emb_len"):
        enc(torch.randn(1, 21, F), torch.tensor([21]))


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(output_size=64, attention_heads=5), "attention_heads"),
        (dict(pos_enc_layer_type="rel_pos"), "pos_enc_layer_type"),
        (dict(ffn_activation_type="mish"), "ffn_activation_type"),
        (dict(num_blocks=0), "num_blocks"),
        (dict(patch_frames=4, patch_stride=8), "patch_stride"),
    ],
)
def test_bad_configs(overrides, match):
    with pytest.raises(ValueError, match=match):
        _tiny(**overrides)


def test_config_types_are_checked():
    with pytest.raises(TypeCheckError):
        _tiny(output_size="64")

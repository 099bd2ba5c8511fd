# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""DAAM density-adaptive gate and its optional use in EchoViTEncoder."""

from pathlib import Path

import pytest
import torch
import yaml

from espnet_echo.encoder.echo_vit import EchoViTEncoder
from espnet_echo.layers.daam import DensityAdaptiveGate

REPO = Path(__file__).resolve().parents[3]


def _pad_mask(lens, t):
    return torch.arange(t)[None, :] >= torch.tensor(lens)[:, None]


def test_shapes_and_gate_range():
    torch.manual_seed(0)
    gate = DensityAdaptiveGate(16, num_gaussians=3)
    x = torch.randn(2, 20, 16)
    y = gate(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    g = gate.gate(x)
    assert g.shape == (2, 20) and (g >= 0).all() and (g <= 1).all()
    assert not torch.equal(y, x)


def test_alpha_zero_is_identity():
    gate = DensityAdaptiveGate(8, alpha_init=0.0)
    x = torch.randn(3, 11, 8)
    assert torch.equal(gate(x, _pad_mask([11, 7, 2], 11)), x)


def test_padding_frames_do_not_matter():
    torch.manual_seed(0)
    gate = DensityAdaptiveGate(8, alpha_init=0.5)
    x = torch.randn(2, 12, 8)
    mask = _pad_mask([12, 7], 12)
    y = gate(x, mask)
    x2 = x.clone()
    x2[1, 7:] = 100.0 * torch.randn(5, 8)
    y2 = gate(x2, mask)
    torch.testing.assert_close(y2[1, :7], y[1, :7])
    assert torch.equal(y2[1, 7:], x2[1, 7:])  # padding unchanged
    torch.testing.assert_close(gate(x[1:, :7]), y[1:, :7])  # same as unpadded


def test_gradients_reach_all_parameters():
    gate = DensityAdaptiveGate(8)
    x = torch.randn(2, 10, 8, requires_grad=True)
    gate(x, _pad_mask([10, 6], 10)).pow(2).sum().backward()
    for name, p in gate.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert torch.isfinite(x.grad).all()


def test_encoder_without_daam_keeps_parameters():
    conf = yaml.safe_load((REPO / "conf/encoder/echo_25m.yaml").read_text())["encoder_conf"]
    plain = EchoViTEncoder(80, **conf)
    assert sum(p.numel() for p in plain.parameters()) == 25_385_472
    assert not any(n.startswith("daam") for n, _ in plain.named_parameters())


def test_encoder_with_daam_runs():
    torch.manual_seed(0)
    enc = EchoViTEncoder(
        20, output_size=32, attention_heads=4, linear_units=64, num_blocks=2,
        use_daam=True, daam_conf={"num_gaussians": 2, "alpha_init": 0.1},
    )
    plain = EchoViTEncoder(20, output_size=32, attention_heads=4, linear_units=64,
                           num_blocks=2)
    extra = sum(p.numel() for p in enc.parameters()) - sum(
        p.numel() for p in plain.parameters()
    )
    assert extra == 2 * (32 + 2 + 2 + 1)
    enc.eval()
    x = torch.randn(2, 40, 20)
    (out, hs), olens, _ = enc(x, torch.tensor([40, 25]), return_all_hs=True)
    assert out.shape == (2, 10, 32) and len(hs) == 2 and olens.tolist() == [10, 7]
    out.sum().backward()
    assert enc.daam[0].alpha.grad is not None
    off = EchoViTEncoder(20, output_size=32, attention_heads=4, linear_units=64,
                         num_blocks=2, daam_conf={"num_gaussians": 2})
    assert off.daam is None
    with pytest.raises(TypeError):
        EchoViTEncoder(20, output_size=32, attention_heads=4, use_daam=True,
                       daam_conf={"bogus": 1})

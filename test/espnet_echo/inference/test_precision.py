import pytest
import torch

from espnet_echo.inference import precision
from espnet_echo.inference.precision import (
    autocast,
    check_quantize,
    keep_fp32,
    outputs_to_float32,
    quantize_linear,
    resolve_dtype,
)


def test_bf16_supported_is_a_bool_and_false_off_cpu_and_cuda():
    assert isinstance(precision.bf16_supported("cpu"), bool)
    assert precision.bf16_supported("meta") is False


@pytest.mark.parametrize("supported", [True, False])
def test_resolve_dtype(monkeypatch, supported):
    monkeypatch.setattr(precision, "bf16_supported", lambda device="cpu": supported)
    assert resolve_dtype("float32") == "float32"
    assert resolve_dtype("auto") == ("bfloat16" if supported else "float32")
    if supported:
        assert resolve_dtype("bfloat16") == "bfloat16"
    else:  # asked for bf16 explicitly: an error that names the fallback, no silent fp32
        with pytest.raises(ValueError, match="no native bf16 support.*--dtype auto"):
            resolve_dtype("bfloat16")
    with pytest.raises(ValueError, match="dtype must be one of"):
        resolve_dtype("float16")


def test_check_quantize():
    check_quantize("none", "bfloat16")
    check_quantize("int8", "float32")
    with pytest.raises(ValueError, match="quantize must be one of"):
        check_quantize("int4", "float32")
    with pytest.raises(ValueError, match="int8 takes fp32 activations"):
        check_quantize("int8", "bfloat16")
    with pytest.raises(ValueError, match="CPU only"):
        check_quantize("int8", "float32", device="cuda")


def test_keep_fp32_runs_a_module_outside_autocast():
    torch.manual_seed(0)
    inner, outer = torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)
    x = torch.randn(3, 4)
    with autocast("bfloat16"):
        assert inner(x).dtype == torch.bfloat16
        keep_fp32(inner)
        keep_fp32(inner)  # idempotent: one wrapper
        h = outer(x)
        y = inner(h)  # a bf16 input is cast to fp32 first
    assert h.dtype == torch.bfloat16 and y.dtype == torch.float32
    torch.testing.assert_close(y, inner(h.float()))
    assert set(inner.state_dict()) == {"weight", "bias"}
    with autocast("float32"):
        assert outer(x).dtype == torch.float32


def test_outputs_to_float32_casts_floats_only():
    out = outputs_to_float32({"a": {"x": torch.ones(2, dtype=torch.bfloat16),
                                    "n": torch.ones(2, dtype=torch.long), "s": "txt"}})
    assert out["a"]["x"].dtype == torch.float32 and out["a"]["n"].dtype == torch.long
    assert out["a"]["s"] == "txt"


def test_quantize_linear_replaces_every_linear_and_stays_close():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(),
                                torch.nn.Linear(32, 8))
    x = torch.randn(5, 16)
    ref = model(x)
    quantize_linear(model)
    assert not any(type(m) is torch.nn.Linear for m in model.modules())
    out = model(x)
    # int8 per-tensor weights and activations: ~1 % of the output's scale
    assert (out - ref).abs().max() < 0.05 * ref.abs().max()

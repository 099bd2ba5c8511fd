# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Inference precision: bf16 autocast with fp32 islands, int8 dynamic quantisation.

Two independent options of :class:`~espnet_echo.inference.speech2echo.Speech2Echo`:

* ``dtype``: ``float32`` (default; the model as trained), ``bfloat16`` (the model's
  forward pass under ``torch.autocast(dtype=torch.bfloat16)``) or ``auto`` (bfloat16
  where the device supports it, float32 otherwise). Under CPU autocast, PyTorch runs
  the matmul/convolution ops (``linear``, ``matmul``, ``bmm``, ``conv*``,
  ``scaled_dot_product_attention``) in bf16; the ops after them (softmax,
  layer norm, sigmoid, ...) run in their input's dtype, i.e. bf16 too (PyTorch's CPU
  kernels accumulate bf16 reductions in fp32, the result is rounded to bf16);
  ``stft``/``fft``/``linalg`` ops are forced to fp32. On top of that, some modules are
  **fp32 islands** (:func:`fp32_islands`): autocast is off inside them and their
  floating inputs are cast to fp32:

  - the frontend (STFT + power spectrum + mel ``matmul`` + log): under autocast the
    mel filterbank product would run in bf16 (8-bit mantissa, ~0.4 % relative error
    per bin) before the log, i.e. every feature of every frame would carry that
    error into the whole network;
  - the feature normalisation (GlobalMVN, a subtraction of means of similar size:
    cancellation);
  - the waveform encoder/decoder of a separation head (ESPnet's ``ConvEncoder`` /
    ``ConvDecoder``: the learned analysis and the overlap-add synthesis). A bf16
    synthesis would round every output sample to bf16's 8-bit mantissa (relative
    error up to 2^-9, i.e. a floor near 50 dB SNR on every source whatever the
    model), and the analysis would do the same to the mixture it masks. The TasNet
    mask network (the TCN) runs in bf16; the masks multiply the fp32 analysis
    output, so the product is fp32;
  - every head's ``decode`` (the search after the network: ASR beam search, whose
    CTC prefix scorer goes through numpy, which has no bf16).

  Every floating output of the heads is cast back to float32
  (:func:`outputs_to_float32`), so post-processing (thresholds, PLDA, VBx, audio
  writing) is unchanged.

* ``quantize``: ``none`` or ``int8``: every ``nn.Linear`` of the model replaced by
  ``torch.ao.quantization.quantize_dynamic``'s dynamically quantised linear (int8
  weights per tensor, activations quantised per batch at run time, fp32 in and out).
  Convolutions (patch embedding, TasNet) and the frontend stay fp32. CPU only, and
  only with ``dtype`` float32 (the quantised linear takes fp32 activations).

The bf16 capability check is one small function (:func:`bf16_supported`), so tests
can monkeypatch it.
"""

import contextlib
import functools
import logging
from typing import Any, Callable, Dict, Iterator, List, Mapping, Tuple

import torch

#: Values of ``dtype``.
DTYPES = ("float32", "bfloat16", "auto")
#: Values of ``quantize``.
QUANTIZE = ("none", "int8")


def bf16_supported(device: str = "cpu") -> bool:
    """Whether ``device`` has a bf16 matmul path (no slow scalar fallback).

    CPU: oneDNN's own check (``torch.ops.mkldnn._is_mkldnn_bf16_supported``: true with
    AVX512-BF16 or AMX, and also on AVX512 cores where oneDNN emulates bf16), else
    ``torch.cpu._is_avx512_bf16_supported``. CUDA: ``torch.cuda.is_bf16_supported``.
    Other devices: False.
    """
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if kind != "cpu":
        return False
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    if check is not None and torch.backends.mkldnn.is_available():
        try:
            return bool(check())
        except RuntimeError:
            pass
    cpu_check = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    return bool(cpu_check()) if cpu_check is not None else False


def resolve_dtype(dtype: str, device: str = "cpu") -> str:
    """The precision that ``dtype`` means on ``device``: ``float32`` or ``bfloat16``.

    Args:
        dtype: ``float32``, ``bfloat16`` or ``auto``.
        device: Torch device string.

    Returns:
        ``"float32"`` or ``"bfloat16"`` (``auto``: bfloat16 if :func:`bf16_supported`,
        else float32, logged).

    Raises:
        ValueError: an unknown ``dtype``; ``bfloat16`` on a device without bf16
            support (the message says to use ``float32`` or ``auto``).
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if dtype == "float32":
        return dtype
    supported = bf16_supported(device)
    if dtype == "auto":
        if not supported:
            logging.info(f"dtype auto: {device} has no bf16 support; using float32")
        return "bfloat16" if supported else "float32"
    if not supported:
        raise ValueError(
            f"dtype bfloat16: device {device!r} has no native bf16 support "
            "(oneDNN bf16 / AVX512-BF16 / AMX on CPU); use --dtype float32, or --dtype "
            "auto to fall back to float32 where bf16 is missing"
        )
    return dtype


def check_quantize(quantize: str, dtype: str, device: str = "cpu") -> None:
    """Validate ``quantize`` against the (resolved) ``dtype`` and the device.

    Raises:
        ValueError: unknown value; ``int8`` on a non-CPU device or with bfloat16.
    """
    if quantize not in QUANTIZE:
        raise ValueError(f"quantize must be one of {QUANTIZE}, got {quantize!r}")
    if quantize == "int8" and torch.device(device).type != "cpu":
        raise ValueError(
            f"quantize int8 (dynamic quantisation) runs on CPU only, got device {device!r}"
        )
    if quantize == "int8" and dtype != "float32":
        raise ValueError(
            f"quantize int8 takes fp32 activations; use it with dtype float32, not {dtype}"
        )


def quantize_linear(model: torch.nn.Module) -> torch.nn.Module:
    """Replace every ``nn.Linear`` of ``model`` by a dynamically quantised int8 one.

    In place (``torch.ao.quantization.quantize_dynamic(..., inplace=True)``).

    Returns:
        ``model``.
    """
    logging.info(
        "quantize int8: torch.ao.quantization.quantize_dynamic on nn.Linear (torch "
        f"{torch.__version__} deprecates the quantized tensor types it uses)"
    )
    with warnings_quiet():
        torch.ao.quantization.quantize_dynamic(
            model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True
        )
    return model


@contextlib.contextmanager
def warnings_quiet() -> Iterator[None]:
    """Silence the deprecation warnings of ``torch.ao.quantization`` (torch 2.14 deprecates
    the quantized tensor types; :func:`quantize_linear` says so once in the log)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message=".*quantize", category=UserWarning)
        yield


def _to_fp32(x: Any) -> Any:
    """``x`` with its floating tensors (also inside dicts, lists, tuples) as float32."""
    if torch.is_tensor(x):
        return x.float() if x.is_floating_point() and x.dtype != torch.float32 else x
    if isinstance(x, dict):
        return {k: _to_fp32(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_to_fp32(v) for v in x)
    return x


def _fp32_call(method: Callable, device_type: str, *args, **kwargs):
    with torch.autocast(device_type, enabled=False):
        return method(*_to_fp32(args), **_to_fp32(kwargs))


def fp32_islands(model: torch.nn.Module) -> List[Tuple[Any, str]]:
    """The ``(object, method name)`` pairs of an Echo model that stay fp32 under bf16.

    The ``forward`` of the model's ``frontend`` and ``normalize`` (if any) and of every
    ESPnet ``ConvEncoder`` / ``ConvDecoder`` (the TasNet waveform analysis/synthesis)
    inside it, and every head's ``decode`` (search on the head's output: the ASR beam
    search, whose CTC prefix scorer goes through numpy, and its attention decoder's
    scores). See the module docstring for why.
    """
    from espnet2.enh.decoder.conv_decoder import ConvDecoder
    from espnet2.enh.encoder.conv_encoder import ConvEncoder

    islands = [getattr(model, n, None) for n in ("frontend", "normalize")]
    islands += [m for m in model.modules() if isinstance(m, (ConvEncoder, ConvDecoder))]
    pairs = [(m, "forward") for m in islands if m is not None]
    heads = getattr(model, "heads", None) or {}
    pairs += [(head, "decode") for head in heads.values()]
    return pairs


def keep_fp32(obj: Any, name: str = "forward", device_type: str = "cpu") -> None:
    """Run ``obj.<name>`` with autocast off and fp32 floating inputs (in place).

    Idempotent. The instance attribute shadows the class method (``nn.Module.__call__``
    calls ``self.forward``), so hooks and the state dict are unchanged.
    """
    marks = obj.__dict__.setdefault("_echo_fp32_methods", set())
    if name in marks:
        return
    setattr(obj, name, functools.partial(_fp32_call, getattr(obj, name), device_type))
    marks.add(name)


def autocast(dtype: str, device: str = "cpu") -> contextlib.AbstractContextManager:
    """``torch.autocast`` to bf16 for ``dtype == "bfloat16"``, else a no-op context."""
    if dtype != "bfloat16":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def outputs_to_float32(outputs: Mapping[str, Mapping[str, Any]]) -> Dict[str, Dict]:
    """``{task: {key: value}}`` with every floating tensor cast to float32."""
    return {task: _to_fp32(dict(out)) for task, out in outputs.items()}

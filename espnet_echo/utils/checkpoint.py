# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Read a model checkpoint (``*.pth``) safely, with one error that names the file.

:func:`load_state_dict` is the one place checkpoints are read for inference
(``Speech2Echo``, ``learning_curve``, ``echo_inference``, the codec, the probes, the OWSM
extraction): always ``torch.load(weights_only=True)``, so no pickled code runs.

``torch.load`` fails on a bad file with whatever its reader hits first, none of them
naming the file: ``EOFError`` (empty file), ``UnpicklingError`` (random bytes, a plain
pickle, objects ``weights_only`` refuses), ``KeyError`` (text), ``RuntimeError`` (a
truncated zip), a multi-line message or none. Here each is one :class:`CheckpointError`,
``<file>: not a readable PyTorch checkpoint (<reason>)``, as is a file that loads but
holds no state dict (``torch.save`` of a list); the ``bin`` tools print it as
``<tool>: error: <message>`` (a :class:`~espnet_echo.utils.fileio.DataFileError`, so a
``ValueError``).
"""

import re
import warnings
from pathlib import Path
from typing import Any, Mapping, Union

from espnet_echo.utils.fileio import DataFileError

PathLike = Union[str, Path]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_MAX_REASON = 200


class CheckpointError(DataFileError):
    """A checkpoint file is missing, unreadable or not a state dict (names the file)."""


def _reason(e: BaseException) -> str:
    """One short line from a ``torch.load`` exception: the type and the first sentence.

    ``weights_only`` failures keep only the ``WeightsUnpickler error`` part (what was
    refused), without PyTorch's advice to load with ``weights_only=False``.
    """
    text = _ANSI.sub("", str(e))
    if isinstance(e, KeyError):  # KeyError's str is the repr of the missing key
        text = f"unknown pickle key {text}"
    marker = "WeightsUnpickler error:"
    weights_only = marker in text
    if weights_only:
        text = text.split(marker, 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    first = first.split(". ", 1)[0].rstrip(".")
    if len(first) > _MAX_REASON:
        first = first[: _MAX_REASON - 3] + "..."
    name = type(e).__name__
    if weights_only and first.startswith("Unsupported global"):  # a pickled object
        name = "refused by torch.load(weights_only=True)"
    return f"{name}: {first}" if first else name


def load_state_dict(path: PathLike, map_location: Any = "cpu") -> Mapping[str, Any]:
    """``torch.load(path, weights_only=True)``, checked to be a state dict.

    What the dict holds is the caller's to check (a trainer checkpoint's ``model`` entry,
    a deepspeed ``module`` wrapper, matching keys).

    Args:
        path: The checkpoint (``*.pth``).
        map_location: Passed to ``torch.load``.

    Returns:
        The loaded mapping.

    Raises:
        CheckpointError: no such file, an empty, corrupt, truncated or non-PyTorch file,
            one ``weights_only`` refuses, or one that holds something other than a dict;
            the message names the file and says why in one line.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        empty = path.stat().st_size == 0
    except OSError:
        empty = False
    if empty:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (empty file)")
    try:
        with warnings.catch_warnings():
            # a plain pickle (protocol > 2) warns before it fails: noise next to the error
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
            state = torch.load(path, map_location=map_location, weights_only=True)
    except MemoryError:
        raise
    except Exception as e:  # the readers raise many types, with no common base class
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint ({_reason(e)})"
        ) from e
    if not isinstance(state, Mapping):
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint (it holds a "
            f"{type(state).__name__}, not a state dict)"
        )
    return state

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Read the per-epoch statistics that ESPnet's trainer writes to its log."""

import re
from pathlib import Path
from typing import Dict, Union

from espnet_echo.utils.fileio import DataFileError

PathLike = Union[str, Path]

# "<N>epoch results: [train] k=v, k=v, ..., [valid] k=v, ..." (espnet2.train.trainer)
_EPOCH_LINE = re.compile(r"(\d+)epoch results: (.*)$")
_SECTION = re.compile(r"\[(train|valid|att_plot)\]")
_PAIR = re.compile(r"([A-Za-z_][\w/]*)=(-?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf))")


def last_epoch_stats(log_path: PathLike) -> Dict[str, Dict[str, float]]:
    """Statistics of the last finished epoch of an ESPnet training log.

    Args:
        log_path: The trainer's log (stderr of ``espnet_echo.bin.*_train``).

    Returns:
        ``{"epoch": {"epoch": N}, "train": {key: value}, "valid": {key: value}}``; the
        numeric ``key=value`` pairs of the epoch's summary line (a value that is not a
        plain number, such as ``time=3 minutes``, is left out).

    Raises:
        DataFileError: the log is missing or has no finished epoch; the message names it.
    """
    path = Path(log_path)
    if not path.is_file():
        raise DataFileError(f"{path}: training log not found")
    last = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = _EPOCH_LINE.search(line.rstrip("\n"))
            if m:
                last = m
    if last is None:
        raise DataFileError(f"{path}: no finished epoch ('<N>epoch results:' line)")
    out: Dict[str, Dict[str, float]] = {"epoch": {"epoch": float(last.group(1))}}
    parts = _SECTION.split(last.group(2))
    for name, body in zip(parts[1::2], parts[2::2]):
        pairs = (_PAIR.fullmatch(item.strip()) for item in body.split(", "))
        out[name] = {m.group(1): float(m.group(2)) for m in pairs if m}
    return out

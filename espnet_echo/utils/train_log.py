# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Read the per-epoch statistics that ESPnet's trainer writes to its log."""

import datetime
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Union

from espnet_echo.utils.fileio import DataFileError

PathLike = Union[str, Path]

# "<N>epoch results: [train] k=v, k=v, ..., [valid] k=v, ..." (espnet2.train.trainer)
_EPOCH_LINE = re.compile(r"(\d+)epoch results: (.*)$")
_SECTION = re.compile(r"\[(train|valid|att_plot)\]")
_PAIR = re.compile(r"([A-Za-z_][\w/]*)=(-?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf))")
# ESPnet's log format: "[host] 2026-11-21 22:35:21,225 (module:line) LEVEL: message"
_STAMP = re.compile(r"^\[[^\]]*\] (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ")
# "<N>/<M>epoch started" (espnet2.train.trainer, at the start of every epoch)
_STARTED = re.compile(r"(\d+)/(\d+)epoch started")


@dataclass
class EpochStats:
    """One ``<N>epoch results:`` line of an ESPnet training log.

    Attributes:
        epoch: The epoch number N (1-based).
        time: When the line was logged (the log's local time), None if it has no stamp.
        sections: ``{"train": {key: value}, "valid": {...}, ...}``: the numeric pairs.
    """

    epoch: int
    time: Optional[datetime.datetime]
    sections: Dict[str, Dict[str, float]] = field(default_factory=dict)


def _line_time(line: str) -> Optional[datetime.datetime]:
    m = _STAMP.match(line)
    if m is None:
        return None
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")
    return t + datetime.timedelta(milliseconds=int(m.group(2)))


def _sections(body: str) -> Dict[str, Dict[str, float]]:
    out: Dict[str, Dict[str, float]] = {}
    parts = _SECTION.split(body)
    for name, text in zip(parts[1::2], parts[2::2]):
        pairs = (_PAIR.fullmatch(item.strip()) for item in text.split(", "))
        out[name] = {m.group(1): float(m.group(2)) for m in pairs if m}
    return out


def _open_log(log_path: PathLike) -> Path:
    path = Path(log_path)
    if not path.is_file():
        raise DataFileError(f"{path}: training log not found")
    return path


def epoch_history(log_path: PathLike) -> List[EpochStats]:
    """Every finished epoch of an ESPnet training log, in log order.

    A resumed run appends to the same log; an epoch logged twice keeps its last line.

    Args:
        log_path: The trainer's log (stderr of ``espnet_echo.bin.*_train``).

    Returns:
        One :class:`EpochStats` per ``<N>epoch results:`` line, sorted by epoch. The
        train section's ``total_count`` is ESPnet's cumulative number of training
        iterations (batches) at the end of the epoch.

    Raises:
        DataFileError: the log is missing; the message names it.
    """
    path = _open_log(log_path)
    found: Dict[int, EpochStats] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = _EPOCH_LINE.search(line.rstrip("\n"))
            if m:
                n = int(m.group(1))
                found[n] = EpochStats(n, _line_time(line), _sections(m.group(2)))
    return [found[n] for n in sorted(found)]


def training_start(log_path: PathLike) -> Optional[datetime.datetime]:
    """When the training of an ESPnet log started: the stamp of its first
    ``<N>/<M>epoch started`` line (None if the log has none with a stamp).

    Raises:
        DataFileError: the log is missing; the message names it.
    """
    path = _open_log(log_path)
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if _STARTED.search(line):
                t = _line_time(line)
                if t is not None:
                    return t
    return None


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
    path = _open_log(log_path)
    last = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = _EPOCH_LINE.search(line.rstrip("\n"))
            if m:
                last = m
    if last is None:
        raise DataFileError(f"{path}: no finished epoch ('<N>epoch results:' line)")
    out: Dict[str, Dict[str, float]] = {"epoch": {"epoch": float(last.group(1))}}
    out.update(_sections(last.group(2)))
    return out

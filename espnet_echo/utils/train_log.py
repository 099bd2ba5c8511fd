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
        started: When this run of the epoch started: the stamp of the last
            ``<N>/<M>epoch started`` line of the same N before the results line (an
            earlier start of N that was killed and re-run does not count), None if there
            is none (or it has no stamp).
    """

    epoch: int
    time: Optional[datetime.datetime]
    sections: Dict[str, Dict[str, float]] = field(default_factory=dict)
    started: Optional[datetime.datetime] = None

    @property
    def seconds(self) -> Optional[float]:
        """Wall-clock seconds of the epoch (training and validation): ``time - started``;
        None if either stamp is missing."""
        if self.time is None or self.started is None:
            return None
        return (self.time - self.started).total_seconds()


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
    """Every finished epoch of an ESPnet training log, sorted by epoch.

    A resumed run may append to the same log: an epoch logged twice (re-run after a
    resume) keeps its last results line, and the start of that last run of it.

    Args:
        log_path: The trainer's log (stderr of ``espnet_echo.bin.*_train``).

    Returns:
        One :class:`EpochStats` per epoch with a ``<N>epoch results:`` line, sorted by
        epoch, with its ``started`` time (the last ``<N>/<M>epoch started`` line of
        that N before the results line, each start line used at most once). The train
        section's ``total_count`` is ESPnet's cumulative number of training iterations
        (batches) at the end of the epoch.

    Raises:
        DataFileError: the log is missing; the message names it.
    """
    path = _open_log(log_path)
    found: Dict[int, EpochStats] = {}
    starts: Dict[int, Optional[datetime.datetime]] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = _EPOCH_LINE.search(line.rstrip("\n"))
            if m:
                n = int(m.group(1))
                found[n] = EpochStats(n, _line_time(line), _sections(m.group(2)),
                                      starts.pop(n, None))
                continue
            s = _STARTED.search(line)
            if s:
                starts[int(s.group(1))] = _line_time(line)
    return [found[n] for n in sorted(found)]


def cumulative_minutes(history: List[EpochStats]) -> Dict[int, Optional[float]]:
    """Cumulative training minutes at the end of each finished epoch.

    The minutes of epoch N are the sum of :attr:`EpochStats.seconds` (start to results
    line of the last run of the epoch, so validation is included) over the epochs of
    ``history`` up to N: time between runs (a resume after an interruption, the time
    between a results line and the next start) and runs of an epoch that were killed
    and re-run do not count. A log that holds only the epochs since a resume (older
    recipes truncated it on each start) counts from its first start.

    Args:
        history: :func:`epoch_history` of a log.

    Returns:
        ``{epoch: minutes}``; None from the first epoch whose duration is unknown (a
        results line without its start line, or a line without stamp) on.
    """
    out: Dict[int, Optional[float]] = {}
    total: Optional[float] = 0.0
    for ep in sorted(history, key=lambda e: e.epoch):
        sec = ep.seconds
        total = None if total is None or sec is None else total + sec
        out[ep.epoch] = None if total is None else total / 60.0
    return out


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

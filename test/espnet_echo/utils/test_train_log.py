# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of espnet_echo.utils.train_log on ESPnet-format trainer logs."""

from pathlib import Path

import pytest

from espnet_echo.utils.fileio import DataFileError
from espnet_echo.utils.train_log import (
    cumulative_minutes,
    epoch_history,
    last_epoch_stats,
)

LOG = """\
[vm] 2026-11-21 22:35:21,225 (trainer:336) INFO: 1/2epoch started
[vm] 2026-11-21 22:35:21,225 (trainer:811) INFO: 1epoch:train:1-10batch: loss=9.0, grad_norm=1.5clip=100.0
[vm] 2026-11-21 22:35:21,225 (trainer:394) INFO: 1epoch results: [train] loss=5.0, time=3 minutes and 5.1 seconds, total_count=10, [valid] loss=4.0, target_std=0.5
[vm] 2026-11-21 22:39:25,223 (trainer:394) INFO: 2epoch results: [train] iter_time=0.033, loss=-2.5e-01, time=3 minutes and 53.08 seconds, total_count=300, [valid] loss=3.0, target_std=0.25, time=7.3 seconds, total_count=28
[vm] 2026-11-21 22:39:25,300 (trainer:450) INFO: The best model has been updated: valid.loss
"""


def test_last_epoch_sections_and_values(tmp_path: Path):
    log = tmp_path / "train.log"
    log.write_text(LOG)
    stats = last_epoch_stats(log)
    assert stats["epoch"] == {"epoch": 2.0}
    assert stats["train"] == {"iter_time": 0.033, "loss": -0.25, "total_count": 300.0}
    assert stats["valid"] == {
        "loss": 3.0, "target_std": 0.25, "total_count": 28.0,
    }


def test_missing_or_unfinished_log(tmp_path: Path):
    with pytest.raises(DataFileError, match="not found"):
        last_epoch_stats(tmp_path / "nope.log")
    log = tmp_path / "train.log"
    log.write_text(LOG.splitlines()[0] + "\n")
    with pytest.raises(DataFileError, match="no finished epoch"):
        last_epoch_stats(log)


def _log(*entries) -> str:
    """Log lines of (``HH:MM:SS`` or None for an unstamped line, message)."""
    return "".join(f"[vm] 2026-12-01 {t},000 (trainer:1) INFO: {msg}\n" if t else f"{msg}\n"
                   for t, msg in entries)


def _results(n: int, count: int, loss: float = 1.0) -> str:
    return f"{n}epoch results: [train] loss={loss}, total_count={count}, [valid] loss={loss}"


def test_epoch_history_started_and_seconds(tmp_path: Path):
    log = tmp_path / "train.log"
    log.write_text(LOG)
    hist = epoch_history(log)
    # epoch 1: started 22:35:21.225, results at the same stamp; epoch 2 has no start line
    assert hist[0].started == hist[0].time and hist[0].seconds == 0.0
    assert hist[1].started is None and hist[1].seconds is None
    assert cumulative_minutes(hist) == {1: 0.0, 2: None}


def test_resume_gap_killed_epoch_and_rerun_results(tmp_path: Path):
    log = tmp_path / "train.log"
    log.write_text(_log(
        (None, "python espnet_echo/bin/echo_train.py --config conf/train.yaml"),
        ("10:00:00", "1/4epoch started"),
        ("10:01:00", _results(1, 10)),
        ("10:01:05", "2/4epoch started. Estimated time to finish: 3 minutes"),
        ("10:03:05", _results(2, 20)),
        ("10:03:10", "3/4epoch started. Estimated time to finish: 2 minutes"),
        ("10:03:40", "3epoch:train:1-5batch: loss=1.0"),  # killed here
        (None, "python espnet_echo/bin/echo_train.py --config conf/train.yaml --resume true"),
        ("15:00:00", "3/4epoch started"),  # resumed hours later: epoch 3 again
        ("15:01:30", _results(3, 30, loss=0.5)),  # killed before its checkpoint was saved
        (None, "python espnet_echo/bin/echo_train.py --config conf/train.yaml --resume true"),
        ("16:00:00", "3/4epoch started"),
        ("16:00:45", _results(3, 31, loss=0.25)),
        ("16:00:50", "4/4epoch started"),
        ("16:01:50", _results(4, 41)),
    ))
    hist = epoch_history(log)
    assert [e.epoch for e in hist] == [1, 2, 3, 4]
    assert [e.seconds for e in hist] == [60.0, 120.0, 45.0, 60.0]
    assert hist[2].sections["train"] == {"loss": 0.25, "total_count": 31.0}  # last run
    assert hist[2].started.hour == 16
    minutes = cumulative_minutes(hist)
    assert minutes == pytest.approx({1: 1.0, 2: 3.0, 3: 3.75, 4: 4.75})
    assert cumulative_minutes(list(reversed(hist))) == minutes


def test_cumulative_minutes_unknown_duration(tmp_path: Path):
    log = tmp_path / "train.log"
    log.write_text(_log(
        ("10:00:00", "1/3epoch started"),
        ("10:01:00", _results(1, 10)),
        ("10:02:00", _results(2, 20)),  # no start line of its own
        ("10:02:05", "3/3epoch started"),
        ("10:03:05", _results(3, 30)),
        ("10:04:00", _results(3, 30)),  # a second results line without a new start
    ))
    hist = epoch_history(log)
    assert hist[1].started is None and hist[2].started is None
    assert cumulative_minutes(hist) == {1: 1.0, 2: None, 3: None}
    assert cumulative_minutes([]) == {}

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of espnet_echo.utils.train_log on ESPnet-format trainer logs."""

from pathlib import Path

import pytest

from espnet_echo.utils.fileio import DataFileError
from espnet_echo.utils.train_log import last_epoch_stats

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

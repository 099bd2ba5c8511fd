import logging

import pytest
import torch

from espnet_echo.ssl.monitors import (
    CollapseMonitor,
    effective_rank,
    mean_cosine_similarity,
    mean_std,
)


def test_collapsed_latents():
    frames = torch.ones(200, 16) * torch.arange(16.0)
    assert mean_std(frames) == 0.0
    assert effective_rank(frames) == pytest.approx(1.0, abs=1e-3)
    assert mean_cosine_similarity(frames) == pytest.approx(1.0, abs=1e-5)


def test_random_latents():
    gen = torch.Generator().manual_seed(0)
    frames = torch.randn(2000, 16, generator=gen)
    assert mean_std(frames) == pytest.approx(1.0, abs=0.05)
    assert effective_rank(frames) > 14.0
    assert abs(mean_cosine_similarity(frames, generator=gen)) < 0.05
    # rank-2 data
    low = torch.randn(500, 2, generator=gen) @ torch.randn(2, 16, generator=gen)
    assert 1.5 < effective_rank(low) < 2.01


def test_monitor_uses_valid_frames_and_warns(caplog):
    latents = torch.randn(2, 50, 8)
    valid = torch.zeros(2, 50, dtype=torch.bool)
    valid[:, :30] = True
    latents[:, 30:] = 1000.0  # padding must not count
    monitor = CollapseMonitor(std_threshold=0.01)
    with caplog.at_level(logging.WARNING):
        stats = monitor("target", latents, valid, step=3)
    assert stats["target_std"] == pytest.approx(1.0, abs=0.2) and not caplog.records
    assert set(stats) == {"target_std", "target_eff_rank", "target_cos_sim"}
    latents[:, :30] = 0.5
    with caplog.at_level(logging.WARNING):
        stats = monitor("target", latents, valid, step=7)
    assert stats["target_std"] == 0.0
    assert "COLLAPSE" in caplog.text and "step 7" in caplog.text

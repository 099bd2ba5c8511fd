import math

import pytest
import torch

from espnet_echo.ssl.ema import EMAMomentum, ema_update_


def test_schedule_endpoints_and_shape():
    for schedule in ("linear", "cosine"):
        m = EMAMomentum(0.996, 1.0, 100, schedule)
        assert m(0) == pytest.approx(0.996) and m(100) == 1.0 and m(10**6) == 1.0
        values = [m(s) for s in range(101)]
        assert all(a <= b for a, b in zip(values, values[1:]))
    assert EMAMomentum(0.996, 1.0, 100, "linear")(50) == pytest.approx(0.998)
    assert EMAMomentum(0.996, 1.0, 100, "cosine")(25) == pytest.approx(
        1.0 - 0.004 * (1 + math.cos(math.pi / 4)) / 2)
    assert EMAMomentum(0.9, 0.99, 0)(0) == 0.99


def test_bad_schedule():
    with pytest.raises(ValueError, match="schedule"):
        EMAMomentum(schedule="step")
    with pytest.raises(ValueError):
        EMAMomentum(start=1.5)


def test_update_is_exact_and_gradient_free():
    torch.manual_seed(0)
    source = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    target = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    target.requires_grad_(False)
    source(torch.randn(8, 4))  # move the BatchNorm statistics
    source[1].num_batches_tracked += 5
    old = {k: v.clone() for k, v in target.state_dict().items()}
    src = source.state_dict()
    m = 0.9
    ema_update_(target, source, m)
    for k, v in target.state_dict().items():
        if v.is_floating_point():
            assert torch.equal(v, old[k] * m + src[k] * (1 - m)), k  # bit-exact
        else:
            assert torch.equal(v, src[k])
    assert all(not p.requires_grad and p.grad is None for p in target.parameters())
    ema_update_(target, source, 0.0)
    assert all(torch.equal(a, b) for a, b in zip(target.parameters(), source.parameters()))
    before = [p.clone() for p in target.parameters()]
    other = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    ema_update_(target, other, 1.0)
    assert all(torch.equal(a, b) for a, b in zip(target.parameters(), before))


def test_structure_mismatch():
    with pytest.raises(ValueError, match="parameters"):
        ema_update_(torch.nn.Linear(2, 2), torch.nn.Sequential(torch.nn.Linear(2, 2),
                                                                torch.nn.Linear(2, 2)), 0.5)

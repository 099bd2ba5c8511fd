import pytest
import torch

from espnet_echo.layers.rwse import RWSE


def _states(num_layers=3, shape=(2, 5, 4)):
    torch.manual_seed(0)
    return [torch.randn(*shape) for _ in range(num_layers)], torch.randn(*shape)


def test_zero_init_gives_uniform_weights():
    rwse = RWSE(3)
    torch.testing.assert_close(rwse.layer_weights(), torch.full((3,), 1 / 3))
    hs, last = _states()
    torch.testing.assert_close(rwse(hs, last), (hs[0] + hs[1] + hs[2]) / 3 + last)


def test_matches_hand_computation():
    rwse = RWSE(3)
    with torch.no_grad():
        rwse.weights.copy_(torch.tensor([0.0, 1.0, 2.0]))
    e = [1.0, 2.718281828459045, 7.38905609893065]
    w = [v / sum(e) for v in e]  # softmax by hand
    hs, last = _states()
    expected = w[0] * hs[0] + w[1] * hs[1] + w[2] * hs[2] + last
    torch.testing.assert_close(rwse(hs, last), expected)
    torch.testing.assert_close(rwse.layer_weights(), torch.tensor(w))
    assert abs(float(rwse.layer_weights().sum()) - 1.0) < 1e-6


def test_gradient_reaches_weights_and_states():
    rwse = RWSE(2)
    hs, last = _states(2)
    hs = [h.requires_grad_() for h in hs]
    rwse(hs, last).pow(2).sum().backward()
    assert rwse.weights.grad is not None and torch.any(rwse.weights.grad != 0)
    assert all(h.grad is not None for h in hs)


def test_last_mode_returns_last_without_parameters():
    rwse = RWSE(3, mode="last")
    assert list(rwse.parameters()) == []
    hs, last = _states()
    assert rwse(hs, last) is last
    torch.testing.assert_close(rwse.layer_weights(), torch.zeros(3))


@pytest.mark.parametrize("mode", ["rwse", "last"])
def test_wrong_number_of_layers(mode):
    rwse = RWSE(4, mode=mode)
    hs, last = _states(3)
    with pytest.raises(ValueError, match="4 layer states but got 3"):
        rwse(hs, last)


def test_shape_mismatch():
    rwse = RWSE(2)
    hs, last = _states(2)
    hs[1] = hs[1][:, :-1]
    with pytest.raises(ValueError, match="layer state 1"):
        rwse(hs, last)


def test_bad_construction():
    with pytest.raises(ValueError, match="mode"):
        RWSE(2, mode="mean")
    with pytest.raises(ValueError, match="num_layers"):
        RWSE(0)

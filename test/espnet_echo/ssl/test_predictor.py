import pytest
import torch

from espnet_echo.ssl.predictor import JEPAPredictor


def test_shapes_mask_token_and_padding():
    torch.manual_seed(0)
    pred = JEPAPredictor(input_size=32, output_size=16, attention_heads=2, linear_units=32,
                         num_blocks=2, dropout_rate=0.0, positional_dropout_rate=0.0).eval()
    x = torch.randn(2, 10, 32)
    mask = torch.zeros(2, 10, dtype=torch.bool)
    mask[:, 3:6] = True
    lens = torch.tensor([10, 7])
    y = pred(x, mask, lens)
    assert y.shape == (2, 10, 32)
    # masked inputs are replaced: changing them does not change the output
    x2 = x.clone()
    x2[:, 3:6] += 5.0
    torch.testing.assert_close(pred(x2, mask, lens), y)
    # padding is not attended to
    x3 = x.clone()
    x3[1, 7:] = 100.0
    torch.testing.assert_close(pred(x3, mask, lens)[1, :7], y[1, :7])
    y.sum().backward()
    assert pred.mask_token.grad is not None and pred.mask_token.grad.abs().sum() > 0


def test_bad_heads():
    with pytest.raises(ValueError, match="multiple"):
        JEPAPredictor(input_size=8, output_size=10, attention_heads=4)

import pytest
import torch

from espnet_echo.ssl.masking import BlockMasker, token_mask_to_frame_mask


def runs(row):
    """Lengths of the contiguous True runs of a 1-D bool tensor."""
    out, n = [], 0
    for v in row.tolist() + [False]:
        if v:
            n += 1
        elif n:
            out.append(n)
            n = 0
    return out


def test_ratio_spans_and_padding():
    masker = BlockMasker(min_ratio=0.5, max_ratio=0.5, min_span=5, max_span=12)
    lengths = torch.tensor([400, 250, 120, 37])
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        mask = masker(lengths, 410, gen)
        assert mask.shape == (4, 410) and mask.dtype == torch.bool
        for b, n in enumerate(lengths.tolist()):
            assert not mask[b, n:].any()  # padding never masked
            ratio = mask[b, :n].float().mean().item()
            assert abs(ratio - 0.5) <= 12 / (2 * n) + 1e-6, (n, ratio)
            assert all(5 <= r <= 12 for r in runs(mask[b, :n]))


def test_ratio_range_and_determinism():
    masker = BlockMasker(min_ratio=0.4, max_ratio=0.65, min_span=2, max_span=4)
    lengths = torch.full((64,), 200)
    a = masker(lengths, generator=torch.Generator().manual_seed(3))
    b = masker(lengths, generator=torch.Generator().manual_seed(3))
    c = masker(lengths, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    ratios = a.float().mean(1)
    assert ratios.min() >= 0.4 - 0.01 and ratios.max() <= 0.65 + 0.01
    assert ratios.max() - ratios.min() > 0.1  # the ratio is drawn per utterance


def test_short_utterance_gets_one_span():
    mask = BlockMasker(min_span=5, max_span=12)(torch.tensor([5, 7]))
    assert mask[0, :5].all() and not mask[0, 5:].any() and 5 <= int(mask[1].sum()) <= 7


def test_too_short_is_a_clear_error():
    with pytest.raises(ValueError, match=r"utterance 1 has 3 encoder tokens.*min_span=5"):
        BlockMasker(min_span=5)(torch.tensor([50, 3]))


@pytest.mark.parametrize("kw", [dict(min_ratio=0.0), dict(max_ratio=1.0),
                                dict(min_ratio=0.7, max_ratio=0.6),
                                dict(min_span=0), dict(min_span=6, max_span=5)])
def test_bad_options(kw):
    with pytest.raises(ValueError):
        BlockMasker(**kw)


def test_frame_mask():
    token_mask = torch.tensor([[False, True, True, False], [True, False, False, False]])
    frames = token_mask_to_frame_mask(token_mask, 4, 18, torch.tensor([18, 6]))
    assert frames.shape == (2, 18)
    assert frames[0].tolist() == [False] * 4 + [True] * 8 + [False] * 6
    assert frames[1].tolist() == [True] * 4 + [False] * 14
    # padding frames of a masked token are not masked
    frames = token_mask_to_frame_mask(torch.tensor([[True, True]]), 4, 8, torch.tensor([6]))
    assert frames[0].tolist() == [True] * 6 + [False] * 2

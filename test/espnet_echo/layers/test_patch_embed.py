import math

import pytest
import torch

from espnet2.legacy.nets.pytorch_backend.nets_utils import make_pad_mask
from espnet_echo.layers.patch_embed import PatchEmbed, lengths_to_pad_mask


def test_lengths_to_pad_mask_equals_espnet_make_pad_mask():
    ilens = torch.tensor([7, 1, 3])
    for maxlen in (7, 9):
        assert torch.equal(
            lengths_to_pad_mask(ilens, maxlen), make_pad_mask(ilens, maxlen=maxlen)
        )


@pytest.mark.parametrize("tlen", [16, 17, 18, 19, 20])
@pytest.mark.parametrize("patch_frames", [1, 4])
def test_shapes_and_olens_disjoint(tlen, patch_frames):
    embed = PatchEmbed(input_size=10, output_size=8, patch_frames=patch_frames)
    ilens = torch.tensor([tlen, max(tlen - 5, 1), 1])
    x = torch.randn(3, tlen, 10)
    y, olens, tok_pad = embed(x, ilens)
    ntok = math.ceil(tlen / patch_frames)
    assert y.shape == (3, ntok, 8)
    expected = [math.ceil(int(n) / patch_frames) for n in ilens]
    assert olens.tolist() == expected
    assert embed.output_lengths(ilens).tolist() == expected
    assert tok_pad.shape == (3, ntok)
    assert (~tok_pad).sum(1).tolist() == expected


@pytest.mark.parametrize("tlen", [17, 20])
def test_overlap_shapes_and_content(tlen):
    embed = PatchEmbed(
        input_size=6, output_size=5, patch_frames=4, patch_stride=2, use_norm=False
    )
    x = torch.randn(1, tlen, 6)
    y, olens, _ = embed(x, torch.tensor([tlen]))
    ntok = math.ceil(tlen / 2)
    assert y.shape == (1, ntok, 5)
    assert olens.tolist() == [ntok]
    # Token n covers frames [2n, 2n + 4), zero-padded past the end.
    xp = torch.nn.functional.pad(x, (0, 0, 0, (ntok - 1) * 2 + 4 - tlen))
    for n in (0, 3, ntok - 1):
        ref = embed.proj(xp[0, 2 * n : 2 * n + 4].reshape(-1))
        torch.testing.assert_close(y[0, n], ref)


def test_patch_spans_all_mel_bins_frame_major():
    embed = PatchEmbed(input_size=3, output_size=4, patch_frames=2, use_norm=False)
    x = torch.randn(1, 4, 3)
    y, _, _ = embed(x)
    torch.testing.assert_close(y[0, 1], embed.proj(x[0, 2:4].reshape(-1)))


@pytest.mark.parametrize("stride", [None, 2])
def test_padding_frames_do_not_leak(stride):
    embed = PatchEmbed(input_size=5, output_size=7, patch_frames=4, patch_stride=stride)
    x = torch.randn(2, 23, 5)
    ilens = torch.tensor([23, 10])
    y, olens, _ = embed(x, ilens)
    x2 = x.clone()
    x2[1, 10:] = 1e4  # garbage in the padding
    y2, _, _ = embed(x2, ilens)
    alone, _, _ = embed(x[1:, :10], ilens[1:])
    n = int(olens[1])
    torch.testing.assert_close(y2[1, :n], y[1, :n])
    torch.testing.assert_close(alone[0], y[1, :n])


def test_pad_mask_takes_precedence_over_ilens():
    embed = PatchEmbed(input_size=5, output_size=7, patch_frames=4)
    x = torch.randn(2, 12, 5)
    pad_mask = torch.zeros(2, 12, dtype=torch.bool)
    pad_mask[1, 5:] = True
    y, olens, tok_pad = embed(x, torch.tensor([12, 12]), pad_mask=pad_mask)
    y_ref, olens_ref, _ = embed(x, torch.tensor([12, 5]))
    assert olens.tolist() == olens_ref.tolist() == [3, 2]
    assert tok_pad[1].tolist() == [False, False, True]
    torch.testing.assert_close(y[:, :2], y_ref[:, :2])


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(patch_frames=0),
        dict(patch_frames=4, patch_stride=5),
        dict(patch_frames=4, patch_stride=0),
        dict(output_size=0),
    ],
)
def test_bad_configs(kwargs):
    with pytest.raises(ValueError):
        PatchEmbed(input_size=10, **kwargs)


def test_wrong_feature_dim_is_rejected():
    embed = PatchEmbed(input_size=80, output_size=8)
    with pytest.raises(ValueError, match="80"):
        embed(torch.randn(1, 16, 40), torch.tensor([16]))

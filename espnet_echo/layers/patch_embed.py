# Copyright 2026 espnet-echo developers
#  Apache 2.0

"""Log-mel patch embedding for the Echo ViT encoder."""

from typing import Optional, Tuple

import torch
from typeguard import typechecked

from espnet2.legacy.nets.pytorch_backend.transformer.layer_norm import LayerNorm


def lengths_to_pad_mask(ilens: torch.Tensor, maxlen: int) -> torch.Tensor:
    """Padding mask from lengths in O(B * T).

    Same result as ESPnet's ``make_pad_mask(ilens, maxlen=maxlen)``, whose traceable
    implementation builds ``(maxlen + 1) x (maxlen + 1)`` matrices: for 300 s of 10 ms
    frames that took 1.8 s and about 2.7 GB of peak memory on a 2-core CPU, more than
    the rest of this encoder needs.

    Args:
        ilens: Valid lengths (B,).
        maxlen: Padded length T.

    Returns:
        torch.Tensor: (B, T) bool, True = padding.
    """
    arange = torch.arange(maxlen, device=ilens.device)
    return arange.unsqueeze(0) >= ilens.unsqueeze(1)


class PatchEmbed(torch.nn.Module):
    """Turn log-mel frames into a sequence of patch tokens.

    A patch spans *all* ``input_size`` mel bins and ``patch_frames`` consecutive
    frames, so with the default 10 ms frame hop and ``patch_frames=4`` one token covers
    40 ms (25 tokens/s). The token count is ``ceil(T / patch_stride)``; it is never
    multiplied by a number of frequency patches.

    Token ``n`` covers input frames ``[n * patch_stride, n * patch_stride +
    patch_frames)``. ``patch_stride < patch_frames`` gives overlapping patches; the
    default ``patch_stride = patch_frames`` gives disjoint patches.

    Lengths and padding:
        * ``olens = ceil(ilens / patch_stride)``: a token is valid iff its first frame
          is a valid frame. For disjoint patches this is ``ceil(ilens /
          patch_frames)``.
        * The time axis is zero-padded on the right so that the last token has
          ``patch_frames`` frames (``T_pad = (N - 1) * patch_stride + patch_frames``
          with ``N = ceil(T / patch_stride)``).
        * Frames past ``ilens`` (or flagged by ``pad_mask``) are set to zero before
          patching. A token that straddles the end of an utterance therefore sees the
          same input whether the utterance is alone or zero/garbage-padded in a batch.

    Args:
        input_size: Number of mel bins ``F`` of the input (80 for ESPnet's
            ``DefaultFrontend``).
        output_size: Token dimension ``D``.
        patch_frames: Frames per patch ``P``.
        patch_stride: Frames between the starts of two patches ``S``
            (``1 <= S <= P``); ``None`` means ``S = P`` (no overlap).
        use_norm: Apply a LayerNorm to the projected tokens.
    """

    @typechecked
    def __init__(
        self,
        input_size: int = 80,
        output_size: int = 512,
        patch_frames: int = 4,
        patch_stride: Optional[int] = None,
        use_norm: bool = True,
    ):
        super().__init__()
        if patch_stride is None:
            patch_stride = patch_frames
        if input_size < 1 or output_size < 1:
            raise ValueError(
                f"input_size ({input_size}) and output_size ({output_size}) must be "
                "positive"
            )
        if patch_frames < 1:
            raise ValueError(f"patch_frames must be >= 1, got {patch_frames}")
        if not 1 <= patch_stride <= patch_frames:
            raise ValueError(
                f"patch_stride must satisfy 1 <= patch_stride <= patch_frames "
                f"({patch_frames}), got {patch_stride}"
            )
        self.input_size = input_size
        self.patch_frames = patch_frames
        self.patch_stride = patch_stride
        self.proj = torch.nn.Linear(patch_frames * input_size, output_size)
        self.norm = LayerNorm(output_size) if use_norm else torch.nn.Identity()

    def output_lengths(self, ilens: torch.Tensor) -> torch.Tensor:
        """Number of valid tokens per utterance.

        Args:
            ilens: Valid input frames (B,).

        Returns:
            torch.Tensor: ``ceil(ilens / patch_stride)`` (B,).
        """
        return torch.div(
            ilens + self.patch_stride - 1, self.patch_stride, rounding_mode="floor"
        )

    def forward(
        self,
        xs_pad: torch.Tensor,
        ilens: Optional[torch.Tensor] = None,
        pad_mask: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Embed log-mel patches.

        Args:
            xs_pad: Log-mel features (B, T, F).
            ilens: Valid frames per utterance (B,). Ignored if ``pad_mask`` is given;
                if both are None every frame is valid.
            pad_mask: Frame padding mask (B, T), True = padding. Takes precedence
                over ``ilens`` (same convention as ESPnet encoders' ``masks``).

        Returns:
            torch.Tensor: Patch tokens (B, N, D) with ``N = ceil(T / patch_stride)``.
            torch.Tensor: Valid tokens per utterance (B,) (``ceil(ilens / S)`` for a
                right-padded batch).
            torch.Tensor: Token padding mask (B, N), True = padding.
        """
        if xs_pad.dim() != 3 or xs_pad.size(-1) != self.input_size:
            raise ValueError(
                f"PatchEmbed expects (B, T, {self.input_size}) features, got "
                f"{tuple(xs_pad.shape)}"
            )
        bsz, tlen, fdim = xs_pad.shape
        if tlen < 1:
            raise ValueError("PatchEmbed got an empty time axis (T = 0)")
        if pad_mask is None:
            if ilens is None:
                pad_mask = torch.zeros(
                    bsz, tlen, dtype=torch.bool, device=xs_pad.device
                )
            else:
                pad_mask = lengths_to_pad_mask(ilens.to(xs_pad.device), tlen)
        elif pad_mask.shape != (bsz, tlen):
            raise ValueError(
                f"pad_mask must be (B, T) = {(bsz, tlen)}, got {tuple(pad_mask.shape)}"
            )
        pad_mask = pad_mask.bool()

        p, s = self.patch_frames, self.patch_stride
        ntok = (tlen + s - 1) // s
        padded_len = (ntok - 1) * s + p
        if pad_mask.any():
            xs_pad = xs_pad.masked_fill(pad_mask.unsqueeze(-1), 0.0)
        if padded_len > tlen:
            xs_pad = torch.nn.functional.pad(xs_pad, (0, 0, 0, padded_len - tlen))

        if s == p:
            # Disjoint patches: a pure reshape, (B, N, P * F) with frame-major order.
            patches = xs_pad.reshape(bsz, ntok, p * fdim)
        else:
            # (B, N, F, P) -> (B, N, P, F) -> (B, N, P * F), same order as above.
            patches = xs_pad.unfold(1, p, s).transpose(2, 3)
            patches = patches.reshape(bsz, ntok, p * fdim)

        tokens = self.norm(self.proj(patches))
        # A token is valid iff its first frame is valid.
        token_pad_mask = pad_mask[:, ::s][:, :ntok]
        olens = (~token_pad_mask).sum(dim=1)
        return tokens, olens, token_pad_mask

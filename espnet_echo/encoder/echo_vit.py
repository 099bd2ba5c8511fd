# Copyright 2026 espnet-echo developers
#  Apache 2.0

"""Echo ViT encoder: a pre-norm transformer over 40 ms log-mel patches."""

import math
from typing import List, Optional, Tuple, Union

import torch
from typeguard import typechecked

from espnet2.asr.encoder.abs_encoder import AbsEncoder
from espnet2.legacy.nets.pytorch_backend.nets_utils import get_activation
from espnet2.legacy.nets.pytorch_backend.transformer.attention import MultiHeadedAttention
from espnet2.legacy.nets.pytorch_backend.transformer.embedding import PositionalEncoding
from espnet2.legacy.nets.pytorch_backend.transformer.encoder_layer import EncoderLayer
from espnet2.legacy.nets.pytorch_backend.transformer.layer_norm import LayerNorm
from espnet2.legacy.nets.pytorch_backend.transformer.positionwise_feed_forward import (
    PositionwiseFeedForward,
)
from espnet_echo.layers.daam import DensityAdaptiveGate
from espnet_echo.layers.patch_embed import PatchEmbed


class _LearnedPositionalEncoding(torch.nn.Module):
    """Learned absolute position table, scaled input as in ESPnet's abs_pos.

    Args:
        d_model: Token dimension D.
        dropout_rate: Dropout after adding the positions.
        max_len: Number of positions in the table (tokens, not frames).
    """

    def __init__(self, d_model: int, dropout_rate: float, max_len: int):
        super().__init__()
        self.max_len = max_len
        self.xscale = math.sqrt(d_model)
        self.pe = torch.nn.Parameter(torch.zeros(1, max_len, d_model))
        torch.nn.init.trunc_normal_(self.pe, std=0.02)
        self.dropout = torch.nn.Dropout(p=dropout_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add positions to tokens (B, N, D) -> (B, N, D)."""
        if x.size(1) > self.max_len:
            raise ValueError(
                f"learned positional encoding holds {self.max_len} tokens but the "
                f"input has {x.size(1)}; raise max_pos_emb_len"
            )
        return self.dropout(x * self.xscale + self.pe[:, : x.size(1)])


class EchoViTEncoder(AbsEncoder):
    """Echo ViT encoder over log-mel patches (ESPnet encoder contract).

    ``(B, T, F)`` log-mel frames -> :class:`PatchEmbed` (all F mel bins x
    ``patch_frames`` frames per token) -> positional encoding -> ``num_blocks``
    pre-norm transformer blocks (ESPnet ``EncoderLayer`` with
    ``MultiHeadedAttention`` + ``PositionwiseFeedForward``) -> final LayerNorm.

    With 10 ms frames and ``patch_frames = patch_stride = 4`` the output has
    25 tokens/s (40 ms per token); ``subsampling_factor`` gives the input frames per
    output token (``patch_stride``), so the encoder frame shift in samples is
    ``hop_length * subsampling_factor`` (160 * 4 = 640 at 16 kHz).

    The defaults are the paper-size Echo-25M encoder (512-d, 8 blocks, 8 heads,
    2048 FFN units: 25,385,472 parameters with ``input_size=80``).

    Args:
        input_size: Mel bins F of the input features.
        output_size: Model dimension D.
        attention_heads: Attention heads; must divide ``output_size``.
        linear_units: Hidden units of the position-wise feed-forward layers.
        num_blocks: Number of transformer blocks L.
        dropout_rate: Dropout in the residual branches and feed-forward layers.
        positional_dropout_rate: Dropout after the positional encoding.
        attention_dropout_rate: Dropout on the attention weights.
        pos_enc_layer_type: ``abs_pos`` (ESPnet sinusoidal ``PositionalEncoding``),
            ``learned`` (trainable table of ``max_pos_emb_len`` tokens) or ``none``.
        max_pos_emb_len: Initial/maximum number of positions, in tokens.
            ``abs_pos`` extends itself; ``learned`` raises beyond it.
        patch_frames: Frames per patch.
        patch_stride: Frames between patch starts (``None``: ``patch_frames``, i.e.
            no overlap).
        patch_norm: LayerNorm after the patch projection.
        ffn_activation_type: ``gelu``, ``relu``, ``swish``, ``tanh``, ... .
        use_sdpa: Use PyTorch's fused ``scaled_dot_product_attention`` inside
            ESPnet's ``MultiHeadedAttention`` (same weights, same math).
        layer_drop_rate: Stochastic depth probability of each block (training only).
        use_daam: Add a density-adaptive gate (:class:`DensityAdaptiveGate`, DAAM) after
            every transformer block: ``h_l <- h_l * (1 + alpha_l * G_l)``, so the gated
            states are what the next block, ``return_all_hs`` (RWSE, JEPA targets) and
            the final LayerNorm see. Placement: a per-token scalar gate in front of a
            LayerNorm only acts through the residual stream, so one gate after the
            (LayerNorm-ed, position-encoded) patch embedding would be mostly washed out;
            one gate per block re-weights every layer state the heads consume (the paper
            gates after each encoder stage, which a ViT has only as blocks). Adds
            ``num_blocks * (output_size + 1 + 2G)`` parameters under ``daam.*``;
            with ``use_daam=False`` the parameters are exactly those of the plain
            encoder.
        daam_conf: Keyword arguments of :class:`DensityAdaptiveGate` other than
            ``input_size`` (``num_gaussians``, ``alpha_init``, ...); ignored without
            ``use_daam`` (so an ablation can switch the gates off alone).
    """

    @typechecked
    def __init__(
        self,
        input_size: int,
        output_size: int = 512,
        attention_heads: int = 8,
        linear_units: int = 2048,
        num_blocks: int = 8,
        dropout_rate: float = 0.1,
        positional_dropout_rate: float = 0.1,
        attention_dropout_rate: float = 0.0,
        pos_enc_layer_type: str = "abs_pos",
        max_pos_emb_len: int = 5000,
        patch_frames: int = 4,
        patch_stride: Optional[int] = None,
        patch_norm: bool = True,
        ffn_activation_type: str = "gelu",
        use_sdpa: bool = True,
        layer_drop_rate: float = 0.0,
        use_daam: bool = False,
        daam_conf: Optional[dict] = None,
    ):
        super().__init__()
        if output_size < 1 or attention_heads < 1 or output_size % attention_heads:
            raise ValueError(
                f"output_size ({output_size}) must be a positive multiple of "
                f"attention_heads ({attention_heads})"
            )
        if num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {num_blocks}")
        if linear_units < 1:
            raise ValueError(f"linear_units must be >= 1, got {linear_units}")
        if not 0.0 <= layer_drop_rate < 1.0:
            raise ValueError(
                f"layer_drop_rate must be in [0, 1), got {layer_drop_rate}"
            )
        self._output_size = output_size

        self.embed = PatchEmbed(
            input_size=input_size,
            output_size=output_size,
            patch_frames=patch_frames,
            patch_stride=patch_stride,
            use_norm=patch_norm,
        )

        if pos_enc_layer_type == "abs_pos":
            self.pos_enc = PositionalEncoding(
                output_size, positional_dropout_rate, max_pos_emb_len
            )
        elif pos_enc_layer_type == "learned":
            self.pos_enc = _LearnedPositionalEncoding(
                output_size, positional_dropout_rate, max_pos_emb_len
            )
        elif pos_enc_layer_type == "none":
            self.pos_enc = torch.nn.Dropout(positional_dropout_rate)
        else:
            raise ValueError(
                f"unknown pos_enc_layer_type {pos_enc_layer_type!r}; choose abs_pos, "
                "learned or none"
            )

        if ffn_activation_type == "gelu":
            activation = torch.nn.GELU
        else:
            try:
                get_activation(ffn_activation_type)
            except KeyError:
                raise ValueError(
                    f"unknown ffn_activation_type {ffn_activation_type!r}"
                ) from None

            def activation():
                return get_activation(ffn_activation_type)

        self.encoders = torch.nn.ModuleList(
            [
                EncoderLayer(
                    output_size,
                    MultiHeadedAttention(
                        attention_heads,
                        output_size,
                        attention_dropout_rate,
                        use_sdpa=use_sdpa,
                    ),
                    PositionwiseFeedForward(
                        output_size, linear_units, dropout_rate, activation()
                    ),
                    dropout_rate,
                    normalize_before=True,
                    concat_after=False,
                    stochastic_depth_rate=layer_drop_rate,
                )
                for _ in range(num_blocks)
            ]
        )
        self.daam = (
            torch.nn.ModuleList(
                [
                    DensityAdaptiveGate(output_size, **(daam_conf or {}))
                    for _ in range(num_blocks)
                ]
            )
            if use_daam
            else None
        )
        self.after_norm = LayerNorm(output_size)

    def output_size(self) -> int:
        """Model dimension D of the outputs."""
        return self._output_size

    @property
    def subsampling_factor(self) -> int:
        """Input frames per output token (the patch stride)."""
        return self.embed.patch_stride

    def forward(
        self,
        xs_pad: torch.Tensor,
        ilens: torch.Tensor,
        prev_states: Optional[torch.Tensor] = None,
        masks: Optional[torch.Tensor] = None,
        return_all_hs: bool = False,
    ) -> Tuple[
        Union[torch.Tensor, Tuple[torch.Tensor, List[torch.Tensor]]],
        torch.Tensor,
        None,
    ]:
        """Encode log-mel features.

        Args:
            xs_pad: Log-mel features (B, T, F).
            ilens: Valid frames per utterance (B,).
            prev_states: Unused (ESPnet encoder contract).
            masks: Optional frame padding mask (B, T), True = padding, as passed by
                ``ESPnetSSLModel``; takes precedence over ``ilens``.
            return_all_hs: Also return every block's output.

        Returns:
            Union[torch.Tensor, Tuple[torch.Tensor, List[torch.Tensor]]]:
                ``out`` (B, N, D) after the final LayerNorm, or, with
                ``return_all_hs=True``, ``(out, [h_1, ..., h_L])`` where ``h_l``
                (B, N, D) is block ``l``'s output before the final LayerNorm
                (the same structure as ``EBranchformerEncoder``).
                ``N = ceil(T / subsampling_factor)``.
            torch.Tensor: Valid tokens per utterance (B,),
                ``ceil(ilens / subsampling_factor)``.
            None: No states.
        """
        # Without `masks`, PatchEmbed derives the padding from `ilens` in O(B * T).
        xs, olens, token_pad_mask = self.embed(xs_pad, ilens, pad_mask=masks)
        xs = self.pos_enc(xs)

        # (B, 1, N), True = attend. Without padding, skip the mask so that the fused
        # attention kernel can take its fastest path (the result is the same).
        att_mask = None if not token_pad_mask.any() else ~token_pad_mask[:, None, :]

        intermediate_outs = []
        for i, layer in enumerate(self.encoders):
            xs, att_mask = layer(xs, att_mask)
            if self.daam is not None:
                xs = self.daam[i](xs, token_pad_mask)
            if return_all_hs:
                intermediate_outs.append(xs)
        out = self.after_norm(xs)

        if return_all_hs:
            return (out, intermediate_outs), olens, None
        return out, olens, None

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""JEPA predictor: a small transformer that fills masked tokens in latent space."""

from typing import Optional

import torch
from typeguard import typechecked

from espnet2.legacy.nets.pytorch_backend.nets_utils import make_pad_mask
from espnet2.legacy.nets.pytorch_backend.transformer.attention import MultiHeadedAttention
from espnet2.legacy.nets.pytorch_backend.transformer.embedding import PositionalEncoding
from espnet2.legacy.nets.pytorch_backend.transformer.encoder_layer import EncoderLayer
from espnet2.legacy.nets.pytorch_backend.transformer.layer_norm import LayerNorm
from espnet2.legacy.nets.pytorch_backend.transformer.positionwise_feed_forward import (
    PositionwiseFeedForward,
)


class JEPAPredictor(torch.nn.Module):
    """Predict target latents of masked tokens from the context encoder's latents.

    ``(B, T', D)`` context latents -> Linear(D, P) -> masked positions replaced by a
    learned mask token -> sinusoidal positions (ESPnet ``PositionalEncoding``) ->
    ``num_blocks`` pre-norm transformer blocks (ESPnet ``EncoderLayer``) -> LayerNorm ->
    Linear(P, D).

    Args:
        input_size: Encoder dimension D (set by the task).
        output_size: Predictor dimension P.
        attention_heads: Attention heads; must divide P.
        linear_units: Feed-forward hidden units.
        num_blocks: Transformer blocks.
        dropout_rate: Dropout in the residual branches and feed-forward layers.
        positional_dropout_rate: Dropout after the positional encoding.
        attention_dropout_rate: Dropout on the attention weights.
    """

    @typechecked
    def __init__(
        self,
        input_size: int,
        output_size: int = 256,
        attention_heads: int = 4,
        linear_units: int = 1024,
        num_blocks: int = 2,
        dropout_rate: float = 0.1,
        positional_dropout_rate: float = 0.1,
        attention_dropout_rate: float = 0.0,
    ):
        super().__init__()
        if output_size < 1 or attention_heads < 1 or output_size % attention_heads:
            raise ValueError(
                f"predictor output_size ({output_size}) must be a positive multiple of "
                f"attention_heads ({attention_heads})"
            )
        if num_blocks < 1:
            raise ValueError(f"predictor num_blocks must be >= 1, got {num_blocks}")
        self.input_proj = torch.nn.Linear(input_size, output_size)
        self.mask_token = torch.nn.Parameter(torch.zeros(output_size))
        torch.nn.init.trunc_normal_(self.mask_token, std=0.02)
        self.pos_enc = PositionalEncoding(output_size, positional_dropout_rate)
        self.blocks = torch.nn.ModuleList(
            [
                EncoderLayer(
                    output_size,
                    MultiHeadedAttention(attention_heads, output_size, attention_dropout_rate),
                    PositionwiseFeedForward(
                        output_size, linear_units, dropout_rate, torch.nn.GELU()
                    ),
                    dropout_rate,
                    normalize_before=True,
                    concat_after=False,
                )
                for _ in range(num_blocks)
            ]
        )
        self.after_norm = LayerNorm(output_size)
        self.output_proj = torch.nn.Linear(output_size, input_size)

    def forward(
        self,
        context: torch.Tensor,
        token_mask: torch.Tensor,
        lengths: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Predict latents at every token.

        Args:
            context: Context encoder latents (B, T', D).
            token_mask: Bool mask (B, T'), True = masked (replaced by the mask token).
            lengths: Valid tokens per utterance (B,); padding is not attended to.

        Returns:
            torch.Tensor: Predicted latents (B, T', D); only masked positions are trained.
        """
        x = self.input_proj(context)
        x = torch.where(token_mask[..., None], self.mask_token.to(x.dtype), x)
        x = self.pos_enc(x)
        att_mask = None
        if lengths is not None:
            att_mask = ~make_pad_mask(lengths, maxlen=x.shape[1]).to(x.device)[:, None, :]
        for block in self.blocks:
            x, att_mask = block(x, att_mask)
        return self.output_proj(self.after_norm(x))

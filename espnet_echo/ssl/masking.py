# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Block masking of encoder tokens for JEPA pretraining, and its frame-level view."""

from typing import Optional

import torch
from typeguard import typechecked


class BlockMasker:
    """Per-utterance block (span) masks over encoder tokens.

    For each utterance with ``L`` valid tokens a mask ratio ``r`` is drawn uniformly from
    ``[min_ratio, max_ratio]`` (a fixed ratio when they are equal). Span lengths are drawn
    uniformly from ``[min_span, max_span]`` (clipped to ``L``) until their sum reaches
    ``r * L``; the last span is kept only if that brings the total closer to ``r * L``, so
    the masked share is within about ``max_span / (2 L)`` of ``r`` (one span at least).
    The spans are placed at random with at least one unmasked token between two spans (a
    span that finds no room is dropped), so every contiguous masked run is exactly one
    span. Padding tokens (``>= L``) are never masked.

    An utterance shorter than ``min_span`` tokens cannot hold a span: that raises a
    ``ValueError`` naming its length and ``min_span`` (with Echo ViT's 40 ms tokens,
    ``min_span=5`` needs at least 0.2 s of audio).

    Args:
        min_ratio: Smallest mask ratio, in (0, 1).
        max_ratio: Largest mask ratio, in [min_ratio, 1).
        min_span: Shortest span in tokens (>= 1).
        max_span: Longest span in tokens (>= min_span).
    """

    @typechecked
    def __init__(
        self,
        min_ratio: float = 0.4,
        max_ratio: float = 0.65,
        min_span: int = 5,
        max_span: int = 12,
    ):
        if not 0.0 < min_ratio <= max_ratio < 1.0:
            raise ValueError(
                f"mask ratios must satisfy 0 < min_ratio <= max_ratio < 1, got "
                f"min_ratio={min_ratio}, max_ratio={max_ratio}"
            )
        if not 1 <= min_span <= max_span:
            raise ValueError(
                f"mask spans must satisfy 1 <= min_span <= max_span, got "
                f"min_span={min_span}, max_span={max_span}"
            )
        self.min_ratio = min_ratio
        self.max_ratio = max_ratio
        self.min_span = min_span
        self.max_span = max_span

    def __call__(
        self,
        lengths: torch.Tensor,
        max_len: Optional[int] = None,
        generator: Optional[torch.Generator] = None,
    ) -> torch.Tensor:
        """Draw a token mask.

        Args:
            lengths: Valid tokens per utterance (B,).
            max_len: Padded token length T' (default ``lengths.max()``).
            generator: CPU generator for reproducible masks (default: global RNG).

        Returns:
            torch.Tensor: Bool mask (B, T') on ``lengths.device``, True = masked.

        Raises:
            ValueError: an utterance has fewer than ``min_span`` valid tokens, or
                ``max_len`` is smaller than a length.
        """
        lens = [int(n) for n in lengths.cpu()]
        max_len = max(lens, default=0) if max_len is None else max_len
        if lens and max(lens) > max_len:
            raise ValueError(
                f"max_len={max_len} is smaller than the longest length {max(lens)}"
            )
        mask = torch.zeros(len(lens), max_len, dtype=torch.bool)
        for b, length in enumerate(lens):
            if length < self.min_span:
                raise ValueError(
                    f"utterance {b} has {length} encoder tokens, shorter than one mask span "
                    f"(min_span={self.min_span} tokens); drop such short utterances or "
                    "lower min_span"
                )
            for start, span in self._spans(length, generator):
                mask[b, start : start + span] = True
        return mask.to(lengths.device)

    def _spans(self, length: int, generator: Optional[torch.Generator]):
        """(start, span) pairs of one utterance of ``length`` tokens."""
        ratio = self.min_ratio + (self.max_ratio - self.min_ratio) * float(
            torch.rand((), generator=generator)
        )
        target = ratio * length
        high = min(self.max_span, length)
        spans, total = [], 0
        while total < target:
            span = int(torch.randint(self.min_span, high + 1, (), generator=generator))
            spans.append(span)
            total += span
        if len(spans) > 1 and abs(total - spans[-1] - target) < abs(total - target):
            total -= spans.pop()
        # Place the spans: k spans among (length - total) unmasked tokens; choosing k
        # distinct insertion points among the length - total + 1 gaps keeps them apart.
        while len(spans) > length - total + 1:
            total -= spans.pop()
        free = length - total
        order = torch.randperm(len(spans), generator=generator).tolist()
        spans = [spans[i] for i in order]
        gaps = torch.randperm(free + 1, generator=generator)[: len(spans)].sort().values
        out, offset = [], 0
        for gap, span in zip(gaps.tolist(), spans):
            out.append((gap + offset, span))
            offset += span
        return out


def token_mask_to_frame_mask(
    token_mask: torch.Tensor, subsampling: int, num_frames: int, frame_lengths: torch.Tensor
) -> torch.Tensor:
    """Frames of the encoder input that belong to masked tokens.

    Token ``t`` covers input frames ``[t * subsampling, (t + 1) * subsampling)``. This is
    exact for Echo ViT's non-overlapping patches (``encoder.subsampling_factor`` = patch
    stride, 4 frames per token). For other ESPnet encoders (e.g. conv2d subsampling, whose
    receptive field is wider than its stride and whose output is a few frames shorter)
    it is an approximation: a masked token's receptive field still overlaps unmasked
    frames a little, and frames beyond ``T' * subsampling`` stay unmasked.

    Args:
        token_mask: Bool mask (B, T'), True = masked.
        subsampling: Input frames per encoder token.
        num_frames: Padded number of input frames T.
        frame_lengths: Valid frames per utterance (B,); padding frames are never masked.

    Returns:
        torch.Tensor: Bool mask (B, T), True = masked.
    """
    frames = token_mask.repeat_interleave(subsampling, dim=1)[:, :num_frames]
    if frames.shape[1] < num_frames:
        frames = torch.nn.functional.pad(frames, (0, num_frames - frames.shape[1]))
    valid = torch.arange(num_frames, device=token_mask.device)[None, :] < frame_lengths[
        :, None
    ].to(token_mask.device)
    return frames & valid

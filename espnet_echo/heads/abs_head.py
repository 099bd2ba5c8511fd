# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Interface of a task head on top of the shared encoder."""

from abc import ABC, abstractmethod
from typing import Dict, Optional, Tuple

import torch


class AbsEchoHead(torch.nn.Module, ABC):
    """A task head: diarization, separation or ASR over (RWSE-fused) encoder features.

    The joint model fuses the encoder's layer states with one RWSE per head and calls the
    head with ``feats (B, T, D)`` and ``feats_lens (B,)`` plus the task's references as
    keyword arguments. A head returns its own loss and stats so the model can weight and
    log each task separately.
    """

    #: Batch keys (besides ``feats``/``feats_lens``) that ``forward`` needs.
    required_keys: Tuple[str, ...] = ()

    @abstractmethod
    def forward(
        self, feats: torch.Tensor, feats_lens: torch.Tensor, **refs: torch.Tensor
    ) -> Tuple[torch.Tensor, Dict[str, Optional[torch.Tensor]]]:
        """Compute the head's training loss.

        Args:
            feats: Encoder features (B, T, D).
            feats_lens: Valid frames per utterance (B,).
            **refs: The references named in ``required_keys``.

        Returns:
            loss: Scalar tensor.
            stats: Detached scalars for logging (keys without the task prefix).
        """
        raise NotImplementedError

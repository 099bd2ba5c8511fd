# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""EchoTask's collate behind the type espnet3 checks for."""

from typing import Collection, Dict, List, Tuple

import numpy as np
import torch
from espnet2.train.collate_fn import CommonCollateFn

from espnet_echo.train.collate_fn import EchoCollateFn


class EchoCollate(CommonCollateFn):
    """``EchoCollateFn`` (pads every axis: sources and RTTM labels of different K batch
    together) as a ``CommonCollateFn``.

    espnet3 hands ``(uid, item)`` pairs, the input of every ESPnet collate, only to a
    collate that is an instance of ``CommonCollateFn``
    (``ESPnetLightningModule.train_dataloader``/``val_dataloader`` and
    ``CollectStatsInferenceProvider`` set ``use_espnet_collator`` by that test); any other
    collate gets bare items. ``EchoCollateFn`` is not a subclass, so this one is, and
    delegates to it.
    """

    def __init__(
        self,
        float_pad_value: float = 0.0,
        int_pad_value: int = -1,
        not_sequence: Collection[str] = ("num_spk",),
    ):
        super().__init__(float_pad_value=float_pad_value, int_pad_value=int_pad_value,
                         not_sequence=list(not_sequence))
        self.echo = EchoCollateFn(float_pad_value=float_pad_value,
                                  int_pad_value=int_pad_value,
                                  not_sequence=list(not_sequence))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.echo!r})"

    def __call__(
        self, data: Collection[Tuple[str, Dict[str, np.ndarray]]]
    ) -> Tuple[List[str], Dict[str, torch.Tensor]]:
        return self.echo(data)

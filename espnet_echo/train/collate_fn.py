# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Collate for mixtures with a variable number of speakers per utterance."""

from typing import Collection, Dict, List, Tuple

import numpy as np
import torch
from typeguard import typechecked


class EchoCollateFn:
    """Pad every axis of every array to the batch maximum.

    ESPnet's ``CommonCollateFn`` pads only the first (time) axis, so arrays whose trailing
    speaker axis differs between mixtures (sources ``(N, K)``, RTTM labels ``(N, K)``) cannot
    be stacked. Here all axes are padded: floats with ``float_pad_value``, integers with
    ``int_pad_value``. ``<key>_lengths`` holds the first-axis length, as in ESPnet.

    Args:
        float_pad_value: Padding for float arrays.
        int_pad_value: Padding for integer arrays (``-1`` = ESPnet's ``ignore_id``).
        not_sequence: Keys that get no ``_lengths`` entry.
    """

    @typechecked
    def __init__(
        self,
        float_pad_value: float = 0.0,
        int_pad_value: int = -1,
        not_sequence: Collection[str] = (),
    ):
        self.float_pad_value = float_pad_value
        self.int_pad_value = int_pad_value
        self.not_sequence = set(not_sequence)

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(float_pad_value={self.float_pad_value}, "
            f"int_pad_value={self.int_pad_value}, not_sequence={sorted(self.not_sequence)})"
        )

    def __call__(
        self, data: Collection[Tuple[str, Dict[str, np.ndarray]]]
    ) -> Tuple[List[str], Dict[str, torch.Tensor]]:
        uttids = [u for u, _ in data]
        dicts = [d for _, d in data]
        keys = set(dicts[0])
        for uid, d in zip(uttids, dicts):
            if set(d) != keys:
                raise ValueError(
                    f"utterance {uid}: data keys {sorted(d)} differ from {sorted(keys)} "
                    "(every utterance of a batch needs the same data files)"
                )
        output: Dict[str, torch.Tensor] = {}
        for key in dicts[0]:
            arrays = [np.asarray(d[key]) for d in dicts]
            ndims = {a.ndim for a in arrays}
            if len(ndims) != 1:
                raise ValueError(f"'{key}': arrays of different ranks {sorted(ndims)}")
            shape = np.max([a.shape for a in arrays], axis=0) if arrays[0].ndim else ()
            pad = self.int_pad_value if arrays[0].dtype.kind in "iu" else self.float_pad_value
            out = np.full((len(arrays), *shape), pad, dtype=arrays[0].dtype)
            for i, a in enumerate(arrays):
                out[(i, *(slice(0, s) for s in a.shape))] = a
            output[key] = torch.from_numpy(out)
            if key not in self.not_sequence:
                output[key + "_lengths"] = torch.tensor(
                    [a.shape[0] for a in arrays], dtype=torch.long
                )
        return uttids, output

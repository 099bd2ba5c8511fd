# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""One split of the mini corpus in EchoTask's dump layout, as an espnet3 dataset."""

from pathlib import Path
from typing import Dict, List, Union

import numpy as np
from espnet2.train.dataset import ESPnetDataset

from espnet3.components.data.base_dataset import BaseDataset
from espnet3.contract import Field


class MiniMixDataset(BaseDataset):
    """The files and data types of egs2's stage 6 (``echo.sh``), read by ESPnet's own
    ``ESPnetDataset``: ``speech`` (``wav.scp``), ``speech_ref`` (``speech_ref.scp``,
    ``variable_columns_sound``), ``spk_labels`` (``espnet_rttm``, ``rttm``), ``num_spk``
    (``utt2num_spk``, ``text_int``) and ``text_spk1..num_spk`` (``text``).

    An item is what ESPnetDataset's loaders return (its step 1: texts stay ``str``,
    numbers become arrays), cast as its step 3 casts (float32, int64): espnet3 applies the
    preprocessor (EchoPreprocessor) after the dataset, while ``ESPnetDataset.__getitem__``
    insists on applying it itself. Items are addressed by utterance id (``keys()``), so
    espnet3's shape files and EchoPreprocessor's messages name utterances. The declared
    fields are the two the contract's kinds describe; the other arrays ride along
    undeclared.

    Args:
        split: Split name, a directory under ``dump_dir``.
        dump_dir: Root of the dumps (``format_data`` output).
        num_spk: Speaker slots: ``text_spk1..num_spk`` are read.
    """

    fields = (Field("speech", "audio"), Field("text_spk1", "text"))

    def __init__(self, split: str, dump_dir: str = "dump/raw", num_spk: int = 3):
        root = Path(dump_dir) / split
        triples = [
            (str(root / "wav.scp"), "speech", "sound"),
            (str(root / "speech_ref.scp"), "speech_ref", "variable_columns_sound"),
            (str(root / "espnet_rttm"), "spk_labels", "rttm"),
            (str(root / "utt2num_spk"), "num_spk", "text_int"),
        ] + [(str(root / f"text_spk{n}"), f"text_spk{n}", "text")
             for n in range(1, num_spk + 1)]
        for path, _, _ in triples:
            if not Path(path).is_file():
                raise FileNotFoundError(f"{path}: not found (run the create_dataset stage)")
        self._data = ESPnetDataset(triples, preprocess=None)
        with open(root / "wav.scp", encoding="utf-8") as f:
            self._keys = [line.split(maxsplit=1)[0] for line in f if line.strip()]

    def keys(self) -> List[str]:
        return list(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __getitem__(self, uid: str) -> Dict[str, Union[str, np.ndarray]]:
        if not isinstance(uid, str):
            raise TypeError(f"{type(self).__name__} is indexed by utterance id, got {uid!r}")
        item = {}
        for name, loader in self._data.loader_dict.items():
            value = loader[uid]
            if isinstance(value, str):
                item[name] = value
                continue
            value = np.asarray(value)
            if value.dtype.kind == "f":
                value = value.astype(np.float32)
            elif value.dtype.kind in "iu":
                value = value.astype(np.int64)
            item[name] = value
        return item

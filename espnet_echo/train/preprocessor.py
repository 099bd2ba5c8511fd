# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Preprocessor of the Echo task: tokenise every speaker's text, check the sources."""

from typing import Dict, Union

import numpy as np
from espnet2.train.preprocessor import CommonPreprocessor_multi


class EchoPreprocessor(CommonPreprocessor_multi):
    """``CommonPreprocessor_multi`` plus the variable-K source and count checks.

    Tokenises ``text_spk1..text_spkS`` (empty text -> zero tokens = absent speaker), turns
    ``speech_ref`` from ESPnet's ``variable_columns_sound`` layout ``(K, N)`` into
    ``(N, K)`` so the collate can pad time and speakers, and checks that the number of
    sources, RTTM speakers and ``num_spk`` agree.
    """

    def __call__(
        self, uid: str, data: Dict[str, Union[str, np.ndarray]]
    ) -> Dict[str, np.ndarray]:
        data = super().__call__(uid, data)
        if "speech_ref" in data:
            ref = np.asarray(data["speech_ref"], dtype=np.float32)
            if ref.ndim == 1:
                ref = ref[None]
            if np.isnan(ref).any():
                raise ValueError(
                    f"utterance {uid}: sources in speech_ref have different lengths "
                    "(every source must be as long as its mixture)"
                )
            data["speech_ref"] = ref.T
            if "speech" in data and ref.shape[1] != len(data["speech"]):
                raise ValueError(
                    f"utterance {uid}: sources have {ref.shape[1]} samples but the "
                    f"mixture has {len(data['speech'])}"
                )
        if "num_spk" in data:
            k = int(np.asarray(data["num_spk"]).reshape(-1)[0])
            data["num_spk"] = np.array([k], dtype=np.int64)
            if "speech_ref" in data and data["speech_ref"].shape[1] != k:
                raise ValueError(
                    f"utterance {uid}: utt2num_spk says {k} speakers but speech_ref "
                    f"has {data['speech_ref'].shape[1]} sources"
                )
        if "spk_labels" in data:
            data["spk_labels"] = np.asarray(data["spk_labels"], dtype=np.float32)
        return data

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
    sources, RTTM speakers and ``num_spk`` agree, and that the sample labels
    (``spk_labels`` from ``espnet_rttm``) are as long as the mixture.

    Nothing here crops, pads, shifts or resamples the audio (neither does
    ``CommonPreprocessor_multi`` with the options EchoTask passes), so the time labels
    stay those of the dump. A step that did would have to move ``spk_labels`` with the
    audio (:mod:`espnet_echo.data.labels`); the length check below catches one that
    does not.
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
            labels = np.asarray(data["spk_labels"], dtype=np.float32)
            if labels.ndim != 2:
                raise ValueError(
                    f"utterance {uid}: spk_labels must be (samples, speakers), got shape "
                    f"{labels.shape}"
                )
            if "speech" in data and labels.shape[0] != len(data["speech"]):
                raise ValueError(
                    f"utterance {uid}: spk_labels cover {labels.shape[0]} samples (the END "
                    f"line of its espnet_rttm) but the mixture has {len(data['speech'])}: "
                    "the labels are not those of this audio (rewrite the dump with "
                    "espnet_echo.bin.format_data)"
                )
            if "speech_ref" in data and labels.shape[1] != data["speech_ref"].shape[1]:
                raise ValueError(
                    f"utterance {uid}: spk_labels have {labels.shape[1]} speakers but "
                    f"speech_ref has {data['speech_ref'].shape[1]} sources"
                )
            data["spk_labels"] = labels
        return data

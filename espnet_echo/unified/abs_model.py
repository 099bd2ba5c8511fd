# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Waveform plumbing shared by the joint model and the JEPA pretraining model."""

from typing import Dict, Tuple

import torch
from espnet2.train.abs_espnet_model import AbsESPnetModel


class AbsWaveformESPnetModel(AbsESPnetModel):
    """An ESPnet model whose input goes ``frontend -> specaug -> normalize -> encoder``.

    The subclass constructor sets ``frontend`` (``AbsFrontend`` or None: the input is
    already features), ``specaug`` (``AbsSpecAug`` or None), ``normalize``
    (``AbsNormalize`` or None) and ``extract_feats_in_collect_stats`` (bool). The
    methods follow ``espnet2.asr.espnet_model.ESPnetASRModel``'s ``_extract_feats`` /
    ``encode`` / ``collect_feats``.
    """

    def _extract_feats(
        self, speech: torch.Tensor, speech_lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Frontend features (B, T, F) and lengths (B,) of waveforms (B, N).

        Without a frontend the (length-cut) input is returned as it is.
        """
        speech = speech[:, : speech_lengths.max()]
        if self.frontend is None:
            return speech, speech_lengths
        return self.frontend(speech, speech_lengths)

    def _augment_normalize(
        self, feats: torch.Tensor, feats_lens: torch.Tensor, augment: bool = True
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """SpecAugment (training only, when ``augment``), then normalisation.

        Args:
            feats: Features (B, T, F).
            feats_lens: Valid frames (B,).
            augment: Apply ``specaug`` (if any) in training mode.

        Returns:
            Features (B, T, F) and lengths (B,).
        """
        if augment and self.specaug is not None and self.training:
            feats, feats_lens = self.specaug(feats, feats_lens)
        if self.normalize is not None:
            feats, feats_lens = self.normalize(feats, feats_lens)
        return feats, feats_lens

    def collect_feats(
        self, speech: torch.Tensor, speech_lengths: torch.Tensor, **kwargs
    ) -> Dict[str, torch.Tensor]:
        """Frontend features for ESPnet's collect-stats (GlobalMVN statistics).

        Args:
            speech: Waveforms (B, N).
            speech_lengths: (B,).
            **kwargs: Ignored (other data names).

        Returns:
            ``feats`` (B, T, F) and ``feats_lengths`` (B,), or nothing when
            ``extract_feats_in_collect_stats`` is off.
        """
        if not self.extract_feats_in_collect_stats:
            return {}
        feats, feats_lengths = self._extract_feats(speech, speech_lengths)
        return {"feats": feats, "feats_lengths": feats_lengths}

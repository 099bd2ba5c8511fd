# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""ESPnetEchoModel: one shared encoder, one RWSE per task, three task heads."""

from typing import Dict, List, Optional, Tuple

import torch
from espnet2.asr.encoder.abs_encoder import AbsEncoder
from espnet2.asr.frontend.abs_frontend import AbsFrontend
from espnet2.asr.specaug.abs_specaug import AbsSpecAug
from espnet2.layers.abs_normalize import AbsNormalize
from espnet2.torch_utils.device_funcs import force_gatherable
from espnet2.train.abs_espnet_model import AbsESPnetModel
from typeguard import typechecked

from espnet_echo.heads.abs_head import AbsEchoHead
from espnet_echo.heads.diar_eend import frame_labels
from espnet_echo.layers.rwse import RWSE

TASKS = ("diar", "sep", "asr")


def count_encoder_layers(encoder: AbsEncoder, input_size: int) -> int:
    """Number of layer states ``encoder(..., return_all_hs=True)`` returns.

    Uses the ``encoders`` block list that ESPnet encoders and ``EchoViTEncoder`` share, and
    falls back to one dummy forward pass for other encoders.
    """
    blocks = getattr(encoder, "encoders", None)
    if blocks is not None and hasattr(blocks, "__len__"):
        return len(blocks)
    was_training = encoder.training
    encoder.eval()
    with torch.no_grad():
        x = torch.zeros(1, 64, input_size)
        (_, hs), _, _ = encoder(x, torch.tensor([64]), return_all_hs=True)
    encoder.train(was_training)
    return len(hs)


class ESPnetEchoModel(AbsESPnetModel):
    """Diarization, separation and multi-speaker ASR on one shared encoder.

    ``speech -> frontend -> specaug -> normalize -> encoder -> [h_1..h_L], h_out``; each
    active head gets its own ``RWSE(h) = Σ_l softmax(w)_l h_l + h_out`` (UME's residual
    weighted-sum encoding) and returns its loss; the total loss is
    ``Σ_task weight_task · loss_task`` over the heads that are switched on.

    Args:
        frontend: Waveform to features, e.g. log-mel (B, N) -> (B, T, F).
        specaug: Optional SpecAugment, applied in training only.
        normalize: Optional feature normalisation (GlobalMVN).
        encoder: Shared encoder; must support ``return_all_hs=True``.
        diar_head: Diarization head or None.
        sep_head: Separation head or None.
        asr_head: Multi-speaker ASR head or None.
        num_spk: Number of speaker slots S of every head.
        frame_shift: Waveform samples per encoder frame (frontend hop × encoder
            subsampling); used to align sample-level RTTM labels to encoder frames.
        num_layers: Number of encoder layer states the RWSEs fuse.
        diar_weight: Loss weight of the diarization head.
        sep_weight: Loss weight of the separation head.
        asr_weight: Loss weight of the ASR head.
        rwse_mode: ``"rwse"`` or ``"last"`` (ablation: the last layer only).
        extract_feats_in_collect_stats: Compute frontend features in collect-stats mode.
    """

    @typechecked
    def __init__(
        self,
        frontend: Optional[AbsFrontend],
        specaug: Optional[AbsSpecAug],
        normalize: Optional[AbsNormalize],
        encoder: AbsEncoder,
        diar_head: Optional[AbsEchoHead],
        sep_head: Optional[AbsEchoHead],
        asr_head: Optional[AbsEchoHead],
        num_spk: int,
        frame_shift: int,
        num_layers: int,
        diar_weight: float = 0.33,
        sep_weight: float = 0.33,
        asr_weight: float = 0.33,
        rwse_mode: str = "rwse",
        extract_feats_in_collect_stats: bool = True,
    ):
        super().__init__()
        heads = {"diar": diar_head, "sep": sep_head, "asr": asr_head}
        if all(h is None for h in heads.values()):
            raise ValueError("at least one of diar_head, sep_head, asr_head must be set")
        weights = {"diar": diar_weight, "sep": sep_weight, "asr": asr_weight}
        for task, w in weights.items():
            if heads[task] is not None and w < 0:
                raise ValueError(f"{task}_weight must be >= 0, got {w}")
        self.frontend = frontend
        self.specaug = specaug
        self.normalize = normalize
        self.encoder = encoder
        self.num_spk = num_spk
        self.frame_shift = frame_shift
        self.weights = weights
        self.heads = torch.nn.ModuleDict({t: h for t, h in heads.items() if h is not None})
        self.rwse = torch.nn.ModuleDict(
            {t: RWSE(num_layers, mode=rwse_mode) for t in self.heads}
        )
        self.extract_feats_in_collect_stats = extract_feats_in_collect_stats

    # ------------------------------------------------------------------ encoding
    def _extract_feats(
        self, speech: torch.Tensor, speech_lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        speech = speech[:, : speech_lengths.max()]
        if self.frontend is None:
            return speech, speech_lengths
        return self.frontend(speech, speech_lengths)

    def encode(
        self, speech: torch.Tensor, speech_lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, List[torch.Tensor], torch.Tensor]:
        """Encode a batch of mixtures.

        Args:
            speech: Mixture waveforms (B, N).
            speech_lengths: (B,).

        Returns:
            last: Final encoder output (B, T, D).
            hs: Layer states [h_1, ..., h_L], each (B, T, D).
            lens: Valid encoder frames (B,).
        """
        feats, feats_lens = self._extract_feats(speech, speech_lengths)
        if self.specaug is not None and self.training:
            feats, feats_lens = self.specaug(feats, feats_lens)
        if self.normalize is not None:
            feats, feats_lens = self.normalize(feats, feats_lens)
        out, lens, _ = self.encoder(feats, feats_lens, return_all_hs=True)
        last, hs = out
        return last, list(hs), lens

    def fuse(self, task: str, last: torch.Tensor, hs: List[torch.Tensor]) -> torch.Tensor:
        """RWSE features of one task's head (B, T, D)."""
        return self.rwse[task](hs, last)

    # ------------------------------------------------------------------ training
    def forward(
        self,
        speech: torch.Tensor,
        speech_lengths: torch.Tensor,
        speech_ref: Optional[torch.Tensor] = None,
        speech_ref_lengths: Optional[torch.Tensor] = None,
        spk_labels: Optional[torch.Tensor] = None,
        spk_labels_lengths: Optional[torch.Tensor] = None,
        num_spk: Optional[torch.Tensor] = None,
        **kwargs,
    ) -> Tuple[torch.Tensor, Dict[str, Optional[torch.Tensor]], torch.Tensor]:
        """Joint loss of all active heads.

        Args:
            speech: Mixtures (B, N).
            speech_lengths: (B,).
            speech_ref: Sources (B, N, K), K <= num_spk (absent sources are zero padding).
            speech_ref_lengths: (B,).
            spk_labels: Sample-level speaker activity (B, N, K) from ``espnet_rttm``.
            spk_labels_lengths: (B,).
            num_spk: Speakers per mixture (B, 1) or (B,).
            **kwargs: ``text_spk1..text_spkS`` token ids (B, L) with ``*_lengths``.

        Returns:
            loss, stats, weight.
        """
        batch_size = speech.shape[0]
        last, hs, lens = self.encode(speech, speech_lengths)
        stats: Dict[str, Optional[torch.Tensor]] = {}
        total = 0.0
        for task, head in self.heads.items():
            refs = self._task_refs(
                task, speech, speech_lengths, speech_ref, spk_labels, num_spk,
                last.shape[1], kwargs,
            )
            loss, head_stats = head(self.fuse(task, last, hs), lens, **refs)
            total = total + self.weights[task] * loss
            stats[f"loss_{task}"] = loss.detach()
            for k, v in head_stats.items():
                if k != "loss":
                    stats[f"{task}_{k}"] = v
            if self.rwse[task].mode == "rwse":
                for i, w in enumerate(self.rwse[task].layer_weights().detach()):
                    stats[f"rwse_{task}_w{i + 1}"] = w
        stats["loss"] = total.detach()
        loss, stats, weight = force_gatherable((total, stats, batch_size), total.device)
        return loss, stats, weight

    def _task_refs(
        self,
        task: str,
        speech: torch.Tensor,
        speech_lengths: torch.Tensor,
        speech_ref: Optional[torch.Tensor],
        spk_labels: Optional[torch.Tensor],
        num_spk: Optional[torch.Tensor],
        num_frames: int,
        kwargs: Dict[str, torch.Tensor],
    ) -> Dict[str, torch.Tensor]:
        """Build the reference tensors a head needs, padded to ``num_spk`` slots."""
        S = self.num_spk
        if task == "diar":
            if spk_labels is None:
                raise ValueError(
                    "the diarization head is on but the batch has no 'spk_labels' "
                    "(add 'espnet_rttm,spk_labels,rttm' to the data options)"
                )
            labels = self._pad_slots(spk_labels.float(), S, "spk_labels (RTTM speakers)")
            return {
                "spk_labels": frame_labels(
                    labels, speech_lengths, num_frames, self.frame_shift
                )
            }
        if task == "sep":
            if speech_ref is None or num_spk is None:
                raise ValueError(
                    "the separation head is on but the batch lacks 'speech_ref' or "
                    "'num_spk' (add 'speech_ref.scp,speech_ref,variable_columns_sound' "
                    "and 'utt2num_spk,num_spk,text_int')"
                )
            ref = self._pad_slots(speech_ref, S, "speech_ref (sources)")
            ref = ref[:, : speech.shape[1]].transpose(1, 2)  # (B, S, N)
            return {
                "speech_mix": speech,
                "speech_mix_lengths": speech_lengths,
                "speech_ref": ref,
                "num_spk": num_spk.view(-1).long(),
            }
        # asr
        texts, lens = [], []
        for n in range(1, S + 1):
            if f"text_spk{n}" not in kwargs:
                raise ValueError(
                    f"the ASR head is on but the batch has no 'text_spk{n}' (the data "
                    f"options need text_spk1..text_spk{S}, empty lines for absent speakers)"
                )
            texts.append(kwargs[f"text_spk{n}"])
            lens.append(kwargs[f"text_spk{n}_lengths"])
        max_len = max(1, max(int(t.shape[1]) for t in texts))
        text = torch.full(
            (speech.shape[0], S, max_len), -1, dtype=torch.long, device=speech.device
        )
        for n, t in enumerate(texts):
            text[:, n, : t.shape[1]] = t
        return {"text": text, "text_lengths": torch.stack(lens, dim=1)}

    @staticmethod
    def _pad_slots(x: torch.Tensor, num_slots: int, what: str) -> torch.Tensor:
        """Pad the last (speaker) axis of (B, N, K) to ``num_slots``."""
        if x.shape[-1] > num_slots:
            raise ValueError(
                f"{what}: {x.shape[-1]} speakers in a mixture but the model has "
                f"num_spk={num_slots} slots"
            )
        return torch.nn.functional.pad(x, (0, num_slots - x.shape[-1]))

    def collect_feats(
        self, speech: torch.Tensor, speech_lengths: torch.Tensor, **kwargs
    ) -> Dict[str, torch.Tensor]:
        """Frontend features for ESPnet's collect-stats (GlobalMVN statistics)."""
        if not self.extract_feats_in_collect_stats:
            return {}
        feats, feats_lengths = self._extract_feats(speech, speech_lengths)
        return {"feats": feats, "feats_lengths": feats_lengths}

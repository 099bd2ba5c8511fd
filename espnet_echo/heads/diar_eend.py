# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""EEND-style diarization head: per-slot speaker activity with PIT BCE."""

import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from typeguard import typechecked

from espnet2.diar.espnet_model import ESPnetDiarizationModel
from espnet_echo.heads.abs_head import AbsEchoHead, HeadOutput
from espnet_echo.layers.pit import inverse_permutation, matched_cost, pit_assign


def _length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Bool (B, T): frame t of utterance b is valid."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


class EENDDiarHead(AbsEchoHead):
    """EEND diarization head (SA-EEND style) over RWSE-fused encoder features.

    A linear layer (optionally after one hidden layer) predicts one activity logit
    per output slot and frame. Training uses the permutation-invariant BCE of
    SA-EEND (Fujita et al., Interspeech 2019; ESPnet's
    ``ESPnetDiarizationModel.pit_loss``), computed as a pairwise cost
    ``cost[b, s, k] = sum_t BCE(logit[b, t, s], label[b, t, k]) / S`` over the valid
    frames and assigned exactly by :func:`espnet_echo.layers.pit.pit_assign` (the
    same minimum as ESPnet's enumeration of the S! permutations). The loss is the
    matched cost summed over the batch and divided by the number of valid frames,
    as in ESPnet. All ``num_spk`` slots are assigned, so absent speakers are simply
    all-zero label columns. Diarization error stats come from ESPnet's
    ``ESPnetDiarizationModel.calc_diarization_error``. The number of speakers is
    estimated as the number of slots active for at least ``min_active_frames``
    frames.

    Output of :meth:`infer`: ``logits`` (B, T, S), ``activity`` (B, T, S)
    posteriors (zero on padded frames) and ``activity_lengths`` (B,).

    Args:
        encoder_output_size: Feature dimension D of the encoder features.
        num_spk: Number of output slots S (maximum number of speakers).
        hidden_size: Size of an optional hidden layer (0: linear head only).
        dropout_rate: Dropout applied to the input features.
        threshold: Activity threshold on the posterior (DER, speaker counting).
        min_active_frames: Frames a slot must be active to count as a speaker.
        max_length_diff: Largest tolerated difference between the label and the
            feature lengths (labels are then cut or zero-padded); larger
            differences raise ``ValueError``.

    Raises:
        ValueError: ``num_spk < 1`` or ``threshold`` outside (0, 1).
    """

    ref_kinds = ("spk_labels",)
    output_kinds = ("activity",)

    @typechecked
    def __init__(
        self,
        encoder_output_size: int,
        num_spk: int = 3,
        hidden_size: int = 0,
        dropout_rate: float = 0.0,
        threshold: float = 0.5,
        min_active_frames: int = 1,
        max_length_diff: int = 2,
    ):
        super().__init__(encoder_output_size, num_spk)
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        self.threshold = threshold
        self.min_active_frames = min_active_frames
        self.max_length_diff = max_length_diff
        layers = [torch.nn.Dropout(dropout_rate)]
        if hidden_size > 0:
            layers += [
                torch.nn.Linear(encoder_output_size, hidden_size),
                torch.nn.ReLU(),
                torch.nn.Linear(hidden_size, num_spk),
            ]
        else:
            layers += [torch.nn.Linear(encoder_output_size, num_spk)]
        self.proj = torch.nn.Sequential(*layers)

    # ----------------------------------------------------------------- network
    def infer(
        self,
        feats: torch.Tensor,
        feats_lens: torch.Tensor,
        speech: Optional[torch.Tensor] = None,
        speech_lengths: Optional[torch.Tensor] = None,
    ) -> HeadOutput:
        """Per-slot activity logits and posteriors.

        Args:
            feats: Encoder features (B, T, D).
            feats_lens: Valid frames (B,).
            speech: Unused (the head reads only the features).
            speech_lengths: Unused.

        Returns:
            ``logits`` (B, T, S), ``activity`` (B, T, S) posteriors, zero on padded
            frames, and ``activity_lengths`` (B,) long.

        Raises:
            ValueError: feats not (B, T, D) or feats_lens not (B,).
        """
        self._check_feats(feats, feats_lens)
        logits = self.proj(feats)
        lengths = feats_lens.to(logits.device).long()
        mask = _length_mask(lengths, logits.size(1))
        return {
            "logits": logits,
            "activity": torch.sigmoid(logits) * mask[:, :, None],
            "activity_lengths": lengths,
        }

    @torch.no_grad()
    def estimate_num_spk(
        self, feats: torch.Tensor, feats_lens: torch.Tensor
    ) -> torch.Tensor:
        """Estimated number of speakers per utterance (B,), long.

        A slot counts when its posterior exceeds ``threshold`` on at least
        ``min_active_frames`` valid frames.
        """
        out = self.infer(feats, feats_lens)
        return self._count_speakers(out["logits"], out["activity_lengths"])

    def _count_speakers(
        self, logits: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        mask = _length_mask(lengths.to(logits.device), logits.size(1))
        active = (torch.sigmoid(logits) > self.threshold) & mask[:, :, None]
        return (active.sum(1) >= self.min_active_frames).sum(-1)

    # -------------------------------------------------------------------- loss
    def _align_labels(
        self, spk_labels: torch.Tensor, num_frames: int, logits: torch.Tensor
    ) -> torch.Tensor:
        if spk_labels.dim() != 3 or spk_labels.size(0) != logits.size(0):
            raise ValueError(
                f"spk_labels must be (B={logits.size(0)}, T, S), "
                f"got {tuple(spk_labels.shape)}"
            )
        labels = spk_labels.to(device=logits.device, dtype=logits.dtype)
        n_spk = labels.size(2)
        if n_spk > self.num_spk:
            if (labels[:, :, self.num_spk :] != 0).any():
                raise ValueError(
                    f"spk_labels has {n_spk} speaker columns with activity beyond "
                    f"the head's {self.num_spk} slots"
                )
            labels = labels[:, :, : self.num_spk]
        elif n_spk < self.num_spk:
            labels = F.pad(labels, (0, self.num_spk - n_spk))
        diff = labels.size(1) - num_frames
        if abs(diff) > self.max_length_diff:
            raise ValueError(
                f"spk_labels has {labels.size(1)} frames but feats has {num_frames}; "
                "labels must be aligned to the encoder frames"
            )
        if diff > 0:
            labels = labels[:, :num_frames]
        elif diff < 0:
            labels = F.pad(labels, (0, 0, 0, -diff))
        return labels

    def pairwise_cost(
        self, logits: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """BCE of every (slot, label column) pair over the valid frames.

        Args:
            logits: Activity logits (B, T, S).
            labels: 0/1 activity (B, T, S), aligned to the frames.
            lengths: Valid frames (B,).

        Returns:
            ``cost[b, s, k] = sum_{t < len_b} BCE(logits[b, t, s], labels[b, t, k]) / S``
            (B, S, S), differentiable w.r.t. the logits.
        """
        bs, t, n = logits.shape
        bce = F.binary_cross_entropy_with_logits(
            logits[:, :, :, None].expand(bs, t, n, n),
            labels[:, :, None, :].expand(bs, t, n, n),
            reduction="none",
        )  # (B, T, slot, label)
        mask = _length_mask(lengths, t).to(bce.dtype)
        return (bce * mask[:, :, None, None]).sum(1) / n

    def loss(
        self,
        output: HeadOutput,
        spk_labels: Optional[torch.Tensor] = None,
        num_spk: Optional[torch.Tensor] = None,
        **kwargs,
    ) -> Tuple[torch.Tensor, Dict[str, Optional[torch.Tensor]], torch.Tensor]:
        """PIT BCE loss and diarization error stats.

        Args:
            output: :meth:`infer` output (``logits``, ``activity_lengths``).
            spk_labels: Frame-level 0/1 activity aligned to the encoder frames
                (B, T, S'), S' <= S (missing columns = absent speakers).
            num_spk: Optional true speaker count K per utterance (B,); otherwise K is
                the number of label columns with any activity.
            **kwargs: Ignored (other references).

        Returns:
            loss: Scalar PIT BCE (sum over the batch / valid frames).
            stats: ``loss``, ``der``, ``miss``, ``fa``, ``conf`` (ratios of the scored
                speaker time; None when nothing is scored) and ``spk_count_acc``.
            perm: (B, S): slot ``perm[b, k]`` estimates label column ``k``.

        Raises:
            ValueError: missing or malformed ``spk_labels``/``num_spk``.
        """
        if spk_labels is None:
            raise ValueError("EENDDiarHead.loss needs spk_labels")
        logits = output["logits"]
        lengths = output["activity_lengths"]
        labels = self._align_labels(spk_labels, logits.size(1), logits)
        if num_spk is not None:
            if num_spk.shape != (logits.size(0),):
                raise ValueError(f"num_spk must be (B,), got {tuple(num_spk.shape)}")
            if int(num_spk.max()) > self.num_spk:
                raise ValueError(
                    f"a mixture has {int(num_spk.max())} speakers but the head has "
                    f"only {self.num_spk} slots"
                )

        cost = self.pairwise_cost(logits, labels, lengths)
        perm = pit_assign(cost)
        loss = matched_cost(cost, perm).sum() / lengths.sum().float()
        # label_perm[b, t, s] = label column estimated by slot s
        ref_of_slot = inverse_permutation(perm)
        label_perm = torch.gather(
            labels, 2, ref_of_slot[:, None, :].expand_as(labels)
        )

        # calc_diarization_error thresholds the logits at 0 (posterior 0.5)
        shift = math.log(self.threshold / (1.0 - self.threshold))
        (
            _correct,
            _num_frames,
            _speech_scored,
            _speech_miss,
            _speech_falarm,
            speaker_scored,
            speaker_miss,
            speaker_falarm,
            speaker_error,
        ) = ESPnetDiarizationModel.calc_diarization_error(
            logits.detach() - shift, label_perm, lengths
        )
        if speaker_scored > 0:
            miss = speaker_miss / speaker_scored
            fa = speaker_falarm / speaker_scored
            conf = speaker_error / speaker_scored
            der = miss + fa + conf
        else:
            der = miss = fa = conf = None

        with torch.no_grad():
            est_k = self._count_speakers(logits, lengths)
            if num_spk is not None:
                ref_k = num_spk.to(est_k.device)
            else:
                mask = _length_mask(lengths, labels.size(1))
                ref_k = ((labels * mask[:, :, None]).sum(1) > 0).sum(-1)
            spk_count_acc = (est_k == ref_k).float().mean()

        def _t(v):
            return None if v is None else torch.tensor(float(v))

        stats = dict(
            loss=loss.detach(),
            der=_t(der),
            miss=_t(miss),
            fa=_t(fa),
            conf=_t(conf),
            spk_count_acc=spk_count_acc.detach(),
        )
        return loss, stats, perm

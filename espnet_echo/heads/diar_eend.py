# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""EEND-style diarization head: per-slot speaker activity with PIT BCE."""

import math
from typing import Dict, Optional, Tuple

import torch
from typeguard import typechecked

from espnet2.diar.espnet_model import ESPnetDiarizationModel
from espnet_echo.heads.abs_head import AbsEchoHead


def frame_labels(
    sample_labels: torch.Tensor,
    speech_lengths: torch.Tensor,
    num_frames: int,
    frame_shift: int,
) -> torch.Tensor:
    """Aggregate sample-level speaker activity to frames by majority vote.

    Frame ``t`` covers samples ``[t * frame_shift, (t + 1) * frame_shift)``. A speaker
    is active in a frame when more than half of the frame's valid samples (those
    before ``speech_lengths``) are active. Frames without valid samples are 0, and
    the output is cut or zero-padded to ``num_frames``.

    (ESPnet's ``LabelAggregate`` frames like an STFT with centre padding and a
    window, which does not match an encoder whose frame ``t`` starts at sample
    ``t * frame_shift``; hence these few lines.)

    Args:
        sample_labels: Sample-level 0/1 activity (B, N, S).
        speech_lengths: Valid samples per utterance (B,).
        num_frames: Number of output frames T.
        frame_shift: Samples per frame.

    Returns:
        Frame-level 0/1 activity (B, T, S), float.
    """
    if sample_labels.dim() != 3:
        raise ValueError(
            f"sample_labels must be (B, N, S), got shape {tuple(sample_labels.shape)}"
        )
    if frame_shift <= 0 or num_frames < 0:
        raise ValueError(
            f"need frame_shift > 0 and num_frames >= 0, got {frame_shift}, "
            f"{num_frames}"
        )
    bs, n_samples, n_spk = sample_labels.shape
    if speech_lengths.shape != (bs,):
        raise ValueError(
            f"speech_lengths must be ({bs},), got {tuple(speech_lengths.shape)}"
        )
    labels = (sample_labels > 0.5).float()
    valid = (
        torch.arange(n_samples, device=labels.device)[None, :]
        < speech_lengths.to(labels.device)[:, None]
    ).float()
    labels = labels * valid[:, :, None]
    total = num_frames * frame_shift
    if n_samples < total:
        labels = torch.nn.functional.pad(labels, (0, 0, 0, total - n_samples))
        valid = torch.nn.functional.pad(valid, (0, total - n_samples))
    labels = labels[:, :total].reshape(bs, num_frames, frame_shift, n_spk).sum(2)
    counts = valid[:, :total].reshape(bs, num_frames, frame_shift).sum(2)
    counts = counts[:, :, None]
    return ((2 * labels > counts) & (counts > 0)).float()


class EENDDiarHead(AbsEchoHead):
    """EEND diarization head (SA-EEND style) over RWSE-fused encoder features.

    A linear layer (optionally after one hidden layer) predicts one activity logit
    per output slot and frame. Training uses ESPnet's permutation-invariant BCE
    (``ESPnetDiarizationModel.pit_loss``, reused as-is) over all ``num_spk`` slots,
    so absent speakers are simply all-zero label columns. The number of speakers is
    estimated as the number of slots active for at least ``min_active_frames``
    frames.

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
    """

    required_keys = ("spk_labels",)

    # ESPnet's PIT-BCE, reused as plain functions: they only need ``self`` to
    # provide these three names and a parameter to infer the device from.
    pit_loss = ESPnetDiarizationModel.pit_loss
    pit_loss_single_permute = ESPnetDiarizationModel.pit_loss_single_permute
    create_length_mask = ESPnetDiarizationModel.create_length_mask

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
        super().__init__()
        if num_spk < 1:
            raise ValueError(f"num_spk must be >= 1, got {num_spk}")
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        self.encoder_output_size = encoder_output_size
        self.num_spk = num_spk
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
        #: Slot-to-label permutation of the last forward (B, S): slot ``i`` was
        #: matched with label column ``last_perm[b, i]``.
        self.last_perm: Optional[torch.Tensor] = None

    def _check_feats(self, feats: torch.Tensor, feats_lens: torch.Tensor) -> None:
        if feats.dim() != 3 or feats.size(-1) != self.encoder_output_size:
            raise ValueError(
                f"feats must be (B, T, {self.encoder_output_size}), "
                f"got {tuple(feats.shape)}"
            )
        if feats_lens.shape != (feats.size(0),):
            raise ValueError(
                f"feats_lens must be ({feats.size(0)},), got {tuple(feats_lens.shape)}"
            )

    def logits(self, feats: torch.Tensor, feats_lens: torch.Tensor) -> torch.Tensor:
        """Per-slot activity logits.

        Args:
            feats: Encoder features (B, T, D).
            feats_lens: Valid frames (B,).

        Returns:
            Logits (B, T, S).
        """
        self._check_feats(feats, feats_lens)
        return self.proj(feats)

    def _align_labels(
        self, spk_labels: torch.Tensor, num_frames: int, feats: torch.Tensor
    ) -> torch.Tensor:
        if spk_labels.dim() != 3 or spk_labels.size(0) != feats.size(0):
            raise ValueError(
                f"spk_labels must be (B={feats.size(0)}, T, S), "
                f"got {tuple(spk_labels.shape)}"
            )
        labels = spk_labels.to(device=feats.device, dtype=feats.dtype)
        n_spk = labels.size(2)
        if n_spk > self.num_spk:
            if (labels[:, :, self.num_spk :] != 0).any():
                raise ValueError(
                    f"spk_labels has {n_spk} speaker columns with activity beyond "
                    f"the head's {self.num_spk} slots"
                )
            labels = labels[:, :, : self.num_spk]
        elif n_spk < self.num_spk:
            labels = torch.nn.functional.pad(labels, (0, self.num_spk - n_spk))
        diff = labels.size(1) - num_frames
        if abs(diff) > self.max_length_diff:
            raise ValueError(
                f"spk_labels has {labels.size(1)} frames but feats has {num_frames}; "
                "labels must be aligned to the encoder frames"
            )
        if diff > 0:
            labels = labels[:, :num_frames]
        elif diff < 0:
            labels = torch.nn.functional.pad(labels, (0, 0, 0, -diff))
        return labels

    def _count_speakers(
        self, logits: torch.Tensor, feats_lens: torch.Tensor
    ) -> torch.Tensor:
        mask = (
            torch.arange(logits.size(1), device=logits.device)[None, :]
            < feats_lens.to(logits.device)[:, None]
        )
        active = (torch.sigmoid(logits) > self.threshold) & mask[:, :, None]
        return (active.sum(1) >= self.min_active_frames).sum(-1)

    def forward(
        self,
        feats: torch.Tensor,
        feats_lens: torch.Tensor,
        spk_labels: torch.Tensor = None,
        spk_labels_lengths: torch.Tensor = None,
        num_spk: torch.Tensor = None,
        **kwargs,
    ) -> Tuple[torch.Tensor, Dict[str, Optional[torch.Tensor]]]:
        """PIT BCE loss and diarization error stats.

        Args:
            feats: Encoder features (B, T, D).
            feats_lens: Valid frames (B,).
            spk_labels: Frame-level 0/1 activity aligned to the encoder frames
                (B, T, S'), S' <= S (missing columns = absent speakers).
            spk_labels_lengths: Unused (equal to ``feats_lens``).
            num_spk: Optional true speaker count K per utterance (B,); otherwise K is
                the number of label columns with any activity.

        Returns:
            loss: Scalar PIT BCE (mean over valid frames).
            stats: ``loss``, ``der``, ``miss``, ``fa``, ``conf`` (ratios of the scored
                speaker time; None when nothing is scored) and ``spk_count_acc``.
        """
        if spk_labels is None:
            raise ValueError("EENDDiarHead.forward needs spk_labels")
        logits = self.logits(feats, feats_lens)
        labels = self._align_labels(spk_labels, logits.size(1), feats)
        lengths = feats_lens.to(logits.device)
        if num_spk is not None:
            if num_spk.shape != (feats.size(0),):
                raise ValueError(f"num_spk must be (B,), got {tuple(num_spk.shape)}")
            if int(num_spk.max()) > self.num_spk:
                raise ValueError(
                    f"a mixture has {int(num_spk.max())} speakers but the head has "
                    f"only {self.num_spk} slots"
                )

        loss, min_idx, permute_list, label_perm = self.pit_loss(logits, labels, lengths)
        self.last_perm = torch.stack(
            [torch.as_tensor(permute_list[i]) for i in min_idx.tolist()]
        ).long()

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
                mask = (
                    torch.arange(labels.size(1), device=labels.device)[None, :]
                    < lengths[:, None]
                )
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
        return loss, stats

    @torch.no_grad()
    def inference(self, feats: torch.Tensor, feats_lens: torch.Tensor) -> torch.Tensor:
        """Speaker activity posteriors.

        Args:
            feats: Encoder features (B, T, D).
            feats_lens: Valid frames (B,).

        Returns:
            Posteriors (B, T, S), zero on padded frames.
        """
        probs = torch.sigmoid(self.logits(feats, feats_lens))
        mask = (
            torch.arange(probs.size(1), device=probs.device)[None, :]
            < feats_lens.to(probs.device)[:, None]
        )
        return probs * mask[:, :, None]

    @torch.no_grad()
    def estimate_num_spk(
        self, feats: torch.Tensor, feats_lens: torch.Tensor
    ) -> torch.Tensor:
        """Estimated number of speakers per utterance (B,), long."""
        return self._count_speakers(self.logits(feats, feats_lens), feats_lens)

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Conv-TasNet style separation head conditioned on the shared encoder."""

from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from typeguard import typechecked

from espnet2.enh.decoder.conv_decoder import ConvDecoder
from espnet2.enh.encoder.conv_encoder import ConvEncoder
from espnet2.enh.layers.tcn import TemporalConvNet
from espnet2.enh.loss.criterions.time_domain import SISNRLoss
from espnet_echo.heads.abs_head import AbsEchoHead, HeadOutput
from espnet_echo.layers.pit import pit_assign


class TasNetSepHead(AbsEchoHead):
    """Separation head: Conv-TasNet masks conditioned on RWSE encoder features.

    The mixture waveform goes through ESPnet's ``ConvEncoder`` (B, T', C). The
    encoder features (B, T, D) are interpolated per utterance to the T' valid
    frames and concatenated on the channel axis; ESPnet's ``TemporalConvNet``
    predicts one mask per output slot, and the masked features go through
    ``ConvDecoder`` to waveforms (B, S, N).

    Loss, per utterance with K references and S >= K slots:

    * the K references are assigned to K distinct slots (PIT, exact assignment by
      :func:`espnet_echo.layers.pit.pit_assign`) and scored with ESPnet's
      ``SISNRLoss`` (negative SI-SNR, averaged over the K sources);
    * every unassigned slot gets the null-target loss
      ``null_weight * max(10 log10(|y|^2 / |mix|^2 + eps), null_floor_db)``
      averaged over the S - K null slots. It pushes the slot's energy down
      relative to the mixture until it is ``null_floor_db`` below it, then stops
      (zero gradient), so silence is never scored with SI-SNR against zeros.

    The assignment minimises this whole per-utterance loss (SI-SNR of the assigned
    slots plus the null term of the others), not the SI-SNR alone: the pairwise cost
    is ``-SI-SNR(slot, ref) / K - null_weight / (S - K) * null_term(slot)``. The
    batch loss is the mean over utterances. (Conv-TasNet: Luo and Mesgarani,
    IEEE/ACM TASLP 2019; ESPnet's ``espnet2.enh`` encoder, TCN and decoder.)

    Output of :meth:`infer`: ``sources`` (B, S, N), ``source_energy_db`` (B, S) and
    the mixture it separated, ``mixture`` (B, N) / ``mixture_lengths`` (B,), which
    the loss reads.

    Args:
        encoder_output_size: Feature dimension D of the encoder features.
        num_spk: Number of output slots S.
        enc_channels: ConvEncoder/ConvDecoder channels C.
        kernel_size: ConvEncoder kernel (samples).
        stride: ConvEncoder stride (samples).
        tcn_bottleneck: TCN bottleneck channels.
        tcn_hidden: TCN hidden channels of the conv blocks.
        tcn_kernel: TCN conv kernel size.
        tcn_layers: TCN blocks per stack.
        tcn_stacks: TCN stacks.
        norm_type: TCN normalisation (gLN, cLN, BN).
        causal: Causal TCN.
        mask_nonlinear: Mask non-linearity (relu, sigmoid, softmax, tanh, linear).
        upsample_mode: Interpolation of the encoder features: nearest or linear.
        null_weight: Weight of the null-target term.
        null_floor_db: Floor (dB relative to the mixture) of the null-target term.
        sisnr_clamp_db: ``clamp_db`` of ESPnet's SISNRLoss (None: no clamp).
        eps: Small constant of the energy ratios.

    Raises:
        ValueError: ``num_spk < 1`` or an unknown ``upsample_mode``.
    """

    ref_kinds = ("speech_ref", "num_spk")
    output_kinds = ("sources",)

    @typechecked
    def __init__(
        self,
        encoder_output_size: int,
        num_spk: int = 3,
        enc_channels: int = 256,
        kernel_size: int = 16,
        stride: int = 8,
        tcn_bottleneck: int = 128,
        tcn_hidden: int = 512,
        tcn_kernel: int = 3,
        tcn_layers: int = 8,
        tcn_stacks: int = 3,
        norm_type: str = "gLN",
        causal: bool = False,
        mask_nonlinear: str = "relu",
        upsample_mode: str = "nearest",
        null_weight: float = 1.0,
        null_floor_db: float = -30.0,
        sisnr_clamp_db: Optional[float] = None,
        eps: float = 1e-8,
    ):
        super().__init__(encoder_output_size, num_spk)
        if upsample_mode not in ("nearest", "linear"):
            raise ValueError(
                f"upsample_mode must be nearest or linear, got {upsample_mode}"
            )
        self.upsample_mode = upsample_mode
        self.null_weight = null_weight
        self.null_floor_db = null_floor_db
        self.eps = eps

        self.encoder = ConvEncoder(enc_channels, kernel_size, stride)
        self.decoder = ConvDecoder(enc_channels, kernel_size, stride)
        self.tcn = TemporalConvNet(
            N=enc_channels + encoder_output_size,
            B=tcn_bottleneck,
            H=tcn_hidden,
            P=tcn_kernel,
            X=tcn_layers,
            R=tcn_stacks,
            C=num_spk,
            out_channel=enc_channels,
            norm_type=norm_type,
            causal=causal,
            mask_nonlinear=mask_nonlinear,
        )
        self.criterion = SISNRLoss(clamp_db=sisnr_clamp_db)

    # ------------------------------------------------------------------ checks
    def _check_inputs(
        self,
        feats: torch.Tensor,
        feats_lens: torch.Tensor,
        speech_mix: Optional[torch.Tensor],
        speech_mix_lengths: Optional[torch.Tensor],
    ) -> None:
        if speech_mix is None or speech_mix_lengths is None:
            raise ValueError(
                "TasNetSepHead needs the mixture waveform (speech, speech_lengths)"
            )
        self._check_feats(feats, feats_lens)
        bs = feats.size(0)
        if speech_mix.dim() != 2 or speech_mix.size(0) != bs:
            raise ValueError(
                f"speech must be (B={bs}, N), got {tuple(speech_mix.shape)}"
            )
        if speech_mix_lengths.shape != (bs,):
            raise ValueError(
                f"speech_lengths must be ({bs},), "
                f"got {tuple(speech_mix_lengths.shape)}"
            )
        if int(speech_mix_lengths.min()) < self.encoder.kernel_size:
            raise ValueError(
                f"mixtures must have at least {self.encoder.kernel_size} samples"
            )
        if int(speech_mix_lengths.max()) > speech_mix.size(1):
            raise ValueError("speech_lengths exceeds the mixture's length")

    # ----------------------------------------------------------------- network
    def _upsample(
        self, feats: torch.Tensor, feats_lens: torch.Tensor, flens: torch.Tensor, t: int
    ) -> torch.Tensor:
        """Interpolate each utterance's valid encoder frames onto its conv frames.

        Returns:
            (B, D, t), zero past ``flens``.
        """
        out = feats.new_zeros(feats.size(0), feats.size(2), t)
        kw = {} if self.upsample_mode == "nearest" else {"align_corners": False}
        for b in range(feats.size(0)):
            n_in = max(int(feats_lens[b]), 1)
            n_out = int(flens[b])
            x = feats[b, :n_in].transpose(0, 1)[None]  # (1, D, n_in)
            out[b, :, :n_out] = F.interpolate(
                x, size=n_out, mode=self.upsample_mode, **kw
            )[0]
        return out

    def _separate(
        self,
        feats: torch.Tensor,
        feats_lens: torch.Tensor,
        speech_mix: torch.Tensor,
        speech_mix_lengths: torch.Tensor,
    ) -> torch.Tensor:
        self._check_inputs(feats, feats_lens, speech_mix, speech_mix_lengths)
        bs, n_pad = speech_mix.shape
        ilens = speech_mix_lengths.to(speech_mix.device).long()
        mix = speech_mix[:, : int(ilens.max())]
        enc, flens = self.encoder(mix, ilens)  # (B, T', C), (B,)
        enc = enc.transpose(1, 2)  # (B, C, T')
        cond = self._upsample(feats, feats_lens, flens, enc.size(2))
        masks = self.tcn(torch.cat([enc, cond], dim=1))  # (B, S, C, T')
        masked = enc[:, None] * masks  # (B, S, C, T')
        masked = masked.reshape(bs * self.num_spk, enc.size(1), enc.size(2))
        wav, _ = self.decoder(
            masked.transpose(1, 2), ilens.repeat_interleave(self.num_spk)
        )  # (B*S, Nmax)
        wav = wav.reshape(bs, self.num_spk, -1)
        if wav.size(2) < n_pad:
            wav = F.pad(wav, (0, n_pad - wav.size(2)))
        wav = wav[:, :, :n_pad]
        valid = torch.arange(n_pad, device=wav.device)[None, :] < ilens[:, None]
        return wav * valid[:, None, :]

    def _energy_db(self, est: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        """10 log10(|est|^2 / |mix|^2 + eps) over the last axis."""
        ratio = est.pow(2).sum(-1) / (mix.pow(2).sum(-1) + self.eps)
        return 10.0 * torch.log10(ratio + self.eps)

    def infer(
        self,
        feats: torch.Tensor,
        feats_lens: torch.Tensor,
        speech: Optional[torch.Tensor] = None,
        speech_lengths: Optional[torch.Tensor] = None,
    ) -> HeadOutput:
        """Separate the mixture into S slots.

        Args:
            feats: Encoder features (B, T, D).
            feats_lens: Valid frames (B,).
            speech: Mixture waveform (B, N).
            speech_lengths: Valid samples (B,).

        Returns:
            ``sources``: slot waveforms (B, S, N), zero past the mixture length;
            ``source_energy_db``: slot energy relative to the mixture in dB (B, S),
            detached (see :meth:`slot_energy_db`; slots near ``null_floor_db`` are
            null); ``mixture`` (B, N) and ``mixture_lengths`` (B,): the input.

        Raises:
            ValueError: missing mixture, shape errors, mixtures shorter than the
                conv kernel.
        """
        est = self._separate(feats, feats_lens, speech, speech_lengths)
        with torch.no_grad():
            energy = self.slot_energy_db(est, speech, speech_lengths)
        return {
            "sources": est,
            "source_energy_db": energy,
            "mixture": speech,
            "mixture_lengths": speech_lengths,
        }

    def slot_energy_db(
        self,
        est: torch.Tensor,
        speech_mix: torch.Tensor,
        speech_mix_lengths: torch.Tensor,
    ) -> torch.Tensor:
        """Energy of each slot relative to the mixture.

        Args:
            est: Slot waveforms (B, S, N).
            speech_mix: Mixture waveform (B, N).
            speech_mix_lengths: Valid samples (B,).

        Returns:
            ``10 log10(|est|^2 / |mix|^2 + eps)`` over the valid samples (B, S).
        """
        valid = (
            torch.arange(speech_mix.size(1), device=speech_mix.device)[None, :]
            < speech_mix_lengths.to(speech_mix.device)[:, None]
        )
        n = est.size(-1)
        return self._energy_db(
            est * valid[:, None, :n], (speech_mix * valid)[:, None, :n].to(est.dtype)
        )

    # -------------------------------------------------------------------- loss
    def _check_refs(
        self, est: torch.Tensor, speech_ref: torch.Tensor, num_spk: torch.Tensor
    ) -> torch.Tensor:
        bs = est.size(0)
        if speech_ref.dim() != 3 or speech_ref.size(0) != bs:
            raise ValueError(
                f"speech_ref must be (B={bs}, S, N), got {tuple(speech_ref.shape)}"
            )
        if speech_ref.size(2) != est.size(-1):
            raise ValueError(
                f"speech_ref has {speech_ref.size(2)} samples, "
                f"the mixture has {est.size(-1)}"
            )
        if num_spk.shape != (bs,):
            raise ValueError(f"num_spk must be ({bs},), got {tuple(num_spk.shape)}")
        num_spk = num_spk.long()
        k_max = int(num_spk.max())
        if int(num_spk.min()) < 0 or k_max > self.num_spk:
            raise ValueError(
                f"num_spk must be in [0, {self.num_spk}] (the head's slots), "
                f"got {num_spk.tolist()}"
            )
        if k_max > speech_ref.size(1):
            raise ValueError(
                f"num_spk says {k_max} references but speech_ref has "
                f"{speech_ref.size(1)}"
            )
        return num_spk

    def loss(
        self,
        output: HeadOutput,
        speech_ref: Optional[torch.Tensor] = None,
        num_spk: Optional[torch.Tensor] = None,
        **kwargs,
    ) -> Tuple[torch.Tensor, Dict[str, Optional[torch.Tensor]], torch.Tensor]:
        """PIT SI-SNR loss with null targets for the unassigned slots.

        Args:
            output: :meth:`infer` output (``sources``, ``mixture``,
                ``mixture_lengths``).
            speech_ref: References (B, S', N); slot k of utterance b is a target
                only if k < num_spk[b] (the rest is zero padding, never a target) and
                it is not silent (all zero) over the valid samples.
            num_spk: Number of references K per utterance (B,), 0 <= K <= S.
            **kwargs: Ignored (other references).

        Returns:
            loss: Scalar.
            stats: ``loss``, ``si_snr`` (mean SI-SNR over the real sources, dB) and
                ``null_energy_db`` (mean energy of the null slots relative to the
                mixture, dB; None when the batch has no null slot).
            perm: (B, S): ``perm[b, k]`` (k < K) is the slot estimating the k-th
                non-silent reference, the null slots follow in ascending order, so
                ``sources[b, perm[b]]`` is references-first.

        Raises:
            ValueError: missing or malformed references, ``num_spk`` outside
                ``[0, S]``.
        """
        for name, v in (("speech_ref", speech_ref), ("num_spk", num_spk)):
            if v is None:
                raise ValueError(f"TasNetSepHead.loss needs {name}")
        est = output["sources"]
        speech_mix = output["mixture"]
        speech_mix_lengths = output["mixture_lengths"]
        num_spk = self._check_refs(est, speech_ref, num_spk)
        bs, n_slots = est.size(0), self.num_spk

        # Per utterance (SI-SNR is over each utterance's valid samples): the pairwise
        # loss (S, K) and the null term (S,); K counts the non-silent references.
        pairs: List[torch.Tensor] = []
        null_terms, energies, n_refs = [], [], []
        for b in range(bs):
            length = int(speech_mix_lengths[b])
            est_b = est[b, :, :length]  # (S, L)
            mix_b = speech_mix[b, :length].to(est_b.dtype)
            energy = self._energy_db(est_b, mix_b[None])  # (S,)
            ref_b = speech_ref[b, : int(num_spk[b]), :length].to(est_b.dtype)
            # A reference that is silent over the valid samples (e.g. a crop outside
            # its speech) has no SI-SNR: it is not a target, its slot is a null slot.
            ref_b = ref_b[ref_b.pow(2).sum(-1) > self.eps]
            k = ref_b.size(0)
            pairs.append(
                self.criterion(
                    ref_b[None].expand(n_slots, k, length),
                    est_b[:, None].expand(n_slots, k, length),
                )  # (S, K): negative SI-SNR of slot i against reference j
                if k > 0
                else est_b.new_zeros(n_slots, 0)
            )
            energies.append(energy)
            null_terms.append(energy.clamp(min=self.null_floor_db))
            n_refs.append(k)

        k_max = max(n_refs, default=0)
        cost = est.new_zeros(bs, n_slots, k_max)
        for b, k in enumerate(n_refs):
            if k > 0:
                n_null = n_slots - k
                w_null = self.null_weight / n_null if n_null > 0 else 0.0
                cost[b, :, :k] = (
                    pairs[b] / k - w_null * null_terms[b][:, None]
                ).detach()
        perm = pit_assign(cost, torch.tensor(n_refs, dtype=torch.long))

        losses, si_snrs, null_dbs = [], [], []
        for b, k in enumerate(n_refs):
            slots = perm[b].to(est.device)
            if k > 0:
                matched = pairs[b][slots[:k], torch.arange(k, device=est.device)]
                loss_b = matched.mean()
                si_snrs.append(-matched.detach())
            else:
                loss_b = est.new_zeros(())
            if k < n_slots:
                null = slots[k:]
                loss_b = loss_b + self.null_weight * null_terms[b][null].mean()
                null_dbs.append(energies[b][null].detach())
            losses.append(loss_b)

        loss = torch.stack(losses).mean()
        stats = dict(
            loss=loss.detach(),
            si_snr=torch.cat(si_snrs).mean() if si_snrs else None,
            null_energy_db=torch.cat(null_dbs).mean() if null_dbs else None,
        )
        return loss, stats, perm

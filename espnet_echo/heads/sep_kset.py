# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Echo's null-target K-set separation head: source routing in the shared latent space."""

from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from typeguard import typechecked

from espnet_echo.heads.abs_head import AbsEchoHead, HeadOutput
from espnet_echo.layers.pit import pit_assign
from espnet_echo.metrics.latent_separation import (
    LatentSeparationAccumulator,
    pairwise_latent_si_sdr,
)


class KSetSepHead(AbsEchoHead):
    """Null-target K-set prediction: S slots, each one source's latent or null.

    Echo (Mouchon, arXiv 2606.01909) separates an unknown number of sources with
    "null-target K-set prediction"; its definition is not public
    (``/work/shared/reference/papers.md``), so this is our reading of the name:

    * **Slots.** ``K_max = num_spk`` output slots over the encoder frames. A small
      Transformer over the head's RWSE features ``x`` (B, T, D) gives ``h`` (B, T, H);
      slot ``s`` predicts a latent sequence ``y_s = W_s h + g_s x`` (B, S, T, D) in the
      shared latent space (``g_s`` a learned per-slot gate on the input features, so
      a slot can start from the mixture latent) and an existence logit ``z_s`` from
      the masked time-mean of ``h`` and the slot's own (detached) deviation from
      the null embedding (its time-mean, projected, and its log energy), through one
      MLP shared by the slots plus a per-slot bias.
    * **Targets.** The latents of each clean source under the model's frozen target
      encoder (reference kind ``source_latents``; the stage's starting encoder, see
      ``ESPnetEchoModel``), K of them per utterance.
    * **Null target.** A slot without a source is trained toward a learned null
      embedding ``n`` (D,) at every valid frame, and every slot's existence logit
      toward 1 (matched) or 0 (null) with BCE; ``K̂`` = the number of slots with
      ``sigmoid(z_s) > 0.5``.
    * **PIT.** Sources are matched to slots by the exact assignment of
      :func:`espnet_echo.layers.pit.pit_assign` on a cost that makes it minimise the
      whole per-utterance loss (matched term + null term + BCE; the constant
      "every slot is null" part is subtracted, see the PIT module)::

          L = 1/K Σ_k d(y_perm(k), r_k) + w_null/(S-K) Σ_null mse(y_s, n)
              + w_exist/S Σ_s BCE(z_s, [s matched])

      with ``d`` the negative latent SI-SDR (``latent_loss="sisdr"``, dB) or the
      MSE (``"mse"``). The batch loss is the mean over utterances.

    Stats (per batch, reported by ESPnet per epoch): ``latent_si_sdr``,
    ``latent_si_sdri`` (dB, matched slots vs the mixture's target latent),
    ``pit_acc`` (share of sources whose PIT slot is their nearest slot by latent
    SI-SDR), ``k_acc`` (``K̂ = K``), ``k_mae`` (``|K̂ - K|``), ``null_mse``,
    ``exist_bce``; definitions in :mod:`espnet_echo.metrics.latent_separation`.

    No waveforms: the head's output has no ``sources`` kind (a waveform decoder
    conditioned on the non-null slots is left for later), so ``output_kinds`` is
    empty and the inference policy reads nothing from it; :meth:`records` gives what
    :func:`espnet_echo.metrics.latent_separation.write_record` stores for scoring.

    Args:
        encoder_output_size: Feature dimension D (also the latent dimension).
        num_spk: Number of slots S (K_max).
        hidden_size: Transformer width H.
        num_layers: Transformer layers.
        attention_heads: Attention heads.
        linear_units: Feed-forward units.
        dropout_rate: Dropout of the Transformer.
        latent_loss: ``"sisdr"`` (negative latent SI-SDR, dB) or ``"mse"``.
        null_weight: Weight of the null-target MSE.
        exist_weight: Weight of the existence BCE.
        zero_mean: Mean removal in the latent SI-SDR (loss and stats).
        exist_bias_span: Initial existence-logit biases, linearly from
            ``+exist_bias_span`` (slot 0) to ``-exist_bias_span`` (slot S-1); 0: all
            zero. Why: with equal biases every slot's existence probability starts at
            the average share of used slots, so all slots sit on the same side of 0.5
            and K̂ is constant; because the PIT cost includes the BCE, ordered biases
            make the assignment fill slots in order, and the logits then only have to
            learn where the count stops (symmetry breaking; PIT stays exact).

    Raises:
        ValueError: ``num_spk < 1``, sizes < 1, an unknown ``latent_loss``, or
            ``hidden_size`` not divisible by ``attention_heads``.
    """

    ref_kinds = ("source_latents",)
    output_kinds: Tuple[str, ...] = ()

    @typechecked
    def __init__(
        self,
        encoder_output_size: int,
        num_spk: int = 3,
        hidden_size: int = 256,
        num_layers: int = 2,
        attention_heads: int = 4,
        linear_units: int = 512,
        dropout_rate: float = 0.0,
        latent_loss: str = "sisdr",
        null_weight: float = 1.0,
        exist_weight: float = 1.0,
        zero_mean: bool = False,
        exist_bias_span: float = 2.0,
    ):
        super().__init__(encoder_output_size, num_spk)
        if latent_loss not in ("sisdr", "mse"):
            raise ValueError(f"latent_loss must be sisdr or mse, got {latent_loss!r}")
        for name, v in (("hidden_size", hidden_size), ("num_layers", num_layers),
                        ("attention_heads", attention_heads),
                        ("linear_units", linear_units)):
            if v < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
        if hidden_size % attention_heads:
            raise ValueError(
                f"hidden_size {hidden_size} is not divisible by attention_heads "
                f"{attention_heads}"
            )
        if null_weight < 0 or exist_weight < 0 or exist_bias_span < 0:
            raise ValueError(
                "null_weight, exist_weight and exist_bias_span must be >= 0"
            )
        self.latent_loss = latent_loss
        self.null_weight = null_weight
        self.exist_weight = exist_weight
        self.zero_mean = zero_mean
        d = encoder_output_size
        self.in_proj = torch.nn.Linear(d, hidden_size)
        self.body = torch.nn.TransformerEncoder(
            torch.nn.TransformerEncoderLayer(
                hidden_size, attention_heads, linear_units, dropout_rate,
                batch_first=True, norm_first=True,
            ),
            num_layers,
            enable_nested_tensor=False,
        )
        self.norm = torch.nn.LayerNorm(hidden_size)
        self.slot_proj = torch.nn.Linear(hidden_size, num_spk * d)
        self.slot_gate = torch.nn.Parameter(torch.full((num_spk, d), 0.5))
        self.exist_slot = torch.nn.Linear(d, hidden_size)
        self.exist_proj = torch.nn.Sequential(
            torch.nn.Linear(2 * hidden_size + 1, hidden_size), torch.nn.ReLU(),
            torch.nn.Linear(hidden_size, 1),
        )
        self.null_embedding = torch.nn.Parameter(torch.zeros(d))
        # ordered prior: slot 0 likely used, slot S-1 unlikely (see exist_bias_span)
        self.exist_bias = torch.nn.Parameter(
            torch.linspace(exist_bias_span, -exist_bias_span, num_spk)
            if num_spk > 1 else torch.zeros(1)
        )

    # ----------------------------------------------------------------- network
    def infer(
        self,
        feats: torch.Tensor,
        feats_lens: torch.Tensor,
        speech: Optional[torch.Tensor] = None,
        speech_lengths: Optional[torch.Tensor] = None,
    ) -> HeadOutput:
        """Slot latents and existence of each slot.

        Args:
            feats: RWSE encoder features (B, T, D).
            feats_lens: Valid frames (B,).
            speech: Unused (the head works in the latent space).
            speech_lengths: Unused.

        Returns:
            ``slot_latents`` (B, S, T, D), zero past ``latent_lengths``;
            ``latent_lengths`` (B,); ``exist_logits`` (B, S); ``exist_prob`` (B, S);
            ``num_sources`` (B,) long, K̂ = slots with ``exist_prob > 0.5``.

        Raises:
            ValueError: feats not (B, T, D), feats_lens not (B,), or an utterance
                without a valid encoder frame (a mixture shorter than one frame).
        """
        self._check_feats(feats, feats_lens)
        bs, n_frames, d = feats.shape
        lens = feats_lens.to(feats.device).long()
        if bs and (n_frames == 0 or int(lens.min()) < 1):
            raise ValueError(
                "every mixture needs at least one encoder frame, got frame counts "
                f"{lens.tolist()} (T={n_frames}); the mixture is shorter than one "
                "encoder frame"
            )
        valid = torch.arange(n_frames, device=feats.device)[None, :] < lens[:, None]
        h = self.body(self.in_proj(feats), src_key_padding_mask=~valid)
        h = self.norm(h) * valid[:, :, None]
        slots = self.slot_proj(h).view(bs, n_frames, self.num_spk, d).transpose(1, 2)
        slots = slots + self.slot_gate[None, :, None, :] * feats[:, None]
        slots = slots * valid[:, None, :, None]
        n_valid = lens[:, None].to(h.dtype)
        pooled = h.sum(1) / n_valid  # (B, H)
        dev = (slots.detach() - self.null_embedding.detach()) * valid[:, None, :, None]
        mean_dev = dev.sum(2) / n_valid[:, :, None]  # (B, S, D)
        energy = dev.pow(2).sum((2, 3)) / (n_valid * d)  # (B, S)
        summary = torch.cat([
            pooled[:, None].expand(-1, self.num_spk, -1),
            self.exist_slot(mean_dev),
            torch.log(energy + 1e-6)[:, :, None],
        ], dim=-1)
        logits = self.exist_proj(summary).squeeze(-1) + self.exist_bias  # (B, S)
        prob = torch.sigmoid(logits)
        return {
            "slot_latents": slots,
            "latent_lengths": lens,
            "exist_logits": logits,
            "exist_prob": prob.detach(),
            "num_sources": (prob.detach() > 0.5).sum(-1),
        }

    # -------------------------------------------------------------------- loss
    def _null_mse(self, slots: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        """MSE of every slot to the null embedding over the valid (T, D) (B, S)."""
        valid = torch.arange(slots.shape[2], device=slots.device)[None, :] < lens[:, None]
        sq = (slots - self.null_embedding).pow(2).sum(-1) * valid[:, None, :]
        return sq.sum(-1) / (lens[:, None].to(slots.dtype) * slots.shape[-1])

    def _pair_loss(
        self, slots: torch.Tensor, refs: torch.Tensor, lens: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """(pairwise loss (B, S, K), pairwise latent SI-SDR (B, S, K))."""
        sdr = pairwise_latent_si_sdr(slots, refs, lens, self.zero_mean)
        if self.latent_loss == "sisdr":
            return -sdr, sdr
        valid = torch.arange(slots.shape[2], device=slots.device)[None, :] < lens[:, None]
        m = valid[:, None, :, None].to(slots.dtype)
        e, r = slots * m, refs * m
        sq = (
            e.pow(2).sum((2, 3))[:, :, None]
            - 2 * torch.einsum("bstd,bktd->bsk", e, r)
            + r.pow(2).sum((2, 3))[:, None, :]
        )
        n = (lens.to(slots.dtype) * slots.shape[-1])[:, None, None]
        return sq / n, sdr

    def _check_refs(
        self,
        slots: torch.Tensor,
        source_latents: Optional[torch.Tensor],
        num_sources: Optional[torch.Tensor],
        mixture_latents: Optional[torch.Tensor],
    ) -> torch.Tensor:
        for name, v in (("source_latents", source_latents), ("num_sources", num_sources),
                        ("mixture_latents", mixture_latents)):
            if v is None:
                raise ValueError(
                    f"KSetSepHead.loss needs {name} (the source_latents reference kind)"
                )
        bs, n_slots, n_frames, d = slots.shape
        if source_latents.dim() != 4 or source_latents.shape[0] != bs or (
            source_latents.shape[2:] != (n_frames, d)
        ):
            raise ValueError(
                f"source_latents must be (B={bs}, K, T={n_frames}, D={d}), got "
                f"{tuple(source_latents.shape)}"
            )
        if source_latents.shape[1] > n_slots:
            raise ValueError(
                f"source_latents has {source_latents.shape[1]} sources for the head's "
                f"num_spk={n_slots} slots"
            )
        if mixture_latents.shape != (bs, n_frames, d):
            raise ValueError(
                f"mixture_latents must be ({bs}, {n_frames}, {d}), got "
                f"{tuple(mixture_latents.shape)}"
            )
        if num_sources.shape != (bs,):
            raise ValueError(f"num_sources must be ({bs},), got {tuple(num_sources.shape)}")
        k = num_sources.long()
        if bs and (int(k.min()) < 0 or int(k.max()) > source_latents.shape[1]):
            raise ValueError(
                f"num_sources {k.tolist()} must be in [0, {source_latents.shape[1]}] "
                f"(the source latents given; num_spk={n_slots} slots)"
            )
        return k

    def loss(
        self,
        output: HeadOutput,
        source_latents: Optional[torch.Tensor] = None,
        num_sources: Optional[torch.Tensor] = None,
        mixture_latents: Optional[torch.Tensor] = None,
        **kwargs,
    ) -> Tuple[torch.Tensor, Dict[str, Optional[torch.Tensor]], torch.Tensor]:
        """PIT-matched latent loss, null-target MSE and existence BCE.

        Args:
            output: :meth:`infer` output.
            source_latents: Target latents of the sources (B, K, T, D), the first
                ``num_sources[b]`` real (K <= S).
            num_sources: K_b (B,), ``0 <= K_b <= K``; K_b = 0 (noise only): every slot
                is null.
            mixture_latents: The mixture's target latent (B, T, D) (for SI-SDRi).
            **kwargs: Ignored (``short_sources`` and other references).

        Returns:
            loss: Scalar.
            stats: ``loss``, ``latent_si_sdr``, ``latent_si_sdri``, ``pit_acc``
                (None without sources in the batch), ``k_acc``, ``k_mae``,
                ``null_mse`` (None without null slots), ``exist_bce``.
            perm: (B, S), ``perm[b, :K_b]`` the slots of sources ``0 .. K_b - 1``,
                then the null slots ascending.

        Raises:
            ValueError: missing or malformed references (more sources than slots,
                frame or feature counts that differ from the slots', K_b out of
                range).
        """
        slots = output["slot_latents"]
        logits = output["exist_logits"]
        lens = output["latent_lengths"]
        k = self._check_refs(slots, source_latents, num_sources, mixture_latents)
        bs, n_slots = slots.shape[:2]
        refs = source_latents.to(slots.dtype)
        k_cpu = k.cpu()
        null = self._null_mse(slots, lens)  # (B, S)
        bce1 = F.binary_cross_entropy_with_logits(
            logits, torch.ones_like(logits), reduction="none"
        )
        bce0 = F.binary_cross_entropy_with_logits(
            logits, torch.zeros_like(logits), reduction="none"
        )
        if refs.shape[1]:
            pair, sdr = self._pair_loss(slots, refs, lens)  # (B, S, K)
        else:
            pair = sdr = slots.new_zeros(bs, n_slots, 0)
        kf = k.to(slots.device).to(slots.dtype)
        w_pair = torch.where(kf > 0, 1.0 / kf.clamp(min=1), kf.new_zeros(()))
        n_null = n_slots - kf
        w_null = torch.where(
            n_null > 0, self.null_weight / n_null.clamp(min=1), kf.new_zeros(())
        )
        w_ex = self.exist_weight / n_slots
        # cost of slot s taking source k, minus its cost as a null slot
        cost = (
            w_pair[:, None, None] * pair
            + (w_ex * bce1 - w_null[:, None] * null - w_ex * bce0)[:, :, None]
        )
        perm = pit_assign(cost.detach(), k_cpu)

        slot_ids = perm.to(slots.device)
        rank = torch.empty_like(slot_ids)
        rank.scatter_(1, slot_ids, torch.arange(n_slots, device=slots.device).expand(bs, -1))
        matched_slot = rank < k[:, None].to(slots.device)  # (B, S): slot has a source
        if refs.shape[1]:
            n_refs = refs.shape[1]
            picked = torch.gather(pair, 1, slot_ids[:, None, :n_refs])[:, 0]  # (B, K)
            used = torch.arange(n_refs, device=slots.device)[None, :] < k[:, None].to(
                slots.device
            )
            matched_term = (picked * used).sum(-1) * w_pair
        else:
            matched_term = slots.new_zeros(bs)
        null_term = (null * ~matched_slot).sum(-1) * w_null
        exist_term = F.binary_cross_entropy_with_logits(
            logits, matched_slot.to(logits.dtype), reduction="none"
        )
        loss = (matched_term + null_term + self.exist_weight * exist_term.mean(-1)).mean()

        with torch.no_grad():
            acc = LatentSeparationAccumulator()
            acc.add(
                slots, torch.sigmoid(logits), refs, mixture_latents, k_cpu, lens,
                perm=perm, zero_mean=self.zero_mean,
            )
            res = acc.result()
            n_null_slots = int((~matched_slot).sum())

            def t(v: Optional[float]) -> Optional[torch.Tensor]:
                return None if v is None else torch.tensor(float(v))

            stats: Dict[str, Optional[torch.Tensor]] = dict(
                loss=loss.detach(),
                latent_si_sdr=t(res["latent_si_sdr"]),
                latent_si_sdri=t(res["latent_si_sdri"]),
                pit_acc=t(res["pit_acc"]),
                k_acc=t(res["k_acc"]),
                k_mae=t(res["k_mae"]),
                null_mse=(
                    (null * ~matched_slot).sum() / n_null_slots if n_null_slots else None
                ),
                exist_bce=exist_term.mean().detach(),
            )
        return loss, stats, perm

    # ----------------------------------------------------------------- scoring
    @staticmethod
    def records(
        output: HeadOutput,
        source_latents: torch.Tensor,
        num_sources: torch.Tensor,
        mixture_latents: torch.Tensor,
    ) -> list:
        """Per-utterance arrays for :func:`~espnet_echo.metrics.latent_separation.
        write_record` (valid frames only, the K_b real sources).

        Args:
            output: :meth:`infer` output.
            source_latents: (B, K, T, D).
            num_sources: (B,).
            mixture_latents: (B, T, D).

        Returns:
            A list of B dicts with ``slots`` (S, T_b, D), ``exist_prob`` (S,),
            ``sources`` (K_b, T_b, D), ``mixture`` (T_b, D) as float32 numpy arrays.
        """
        out = []
        for b in range(output["slot_latents"].shape[0]):
            t_b = int(output["latent_lengths"][b])
            k_b = int(num_sources[b])
            out.append({
                "slots": output["slot_latents"][b, :, :t_b].detach().float().cpu().numpy(),
                "exist_prob": output["exist_prob"][b].detach().float().cpu().numpy(),
                "sources": source_latents[b, :k_b, :t_b].detach().float().cpu().numpy(),
                "mixture": mixture_latents[b, :t_b].detach().float().cpu().numpy(),
            })
        return out

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Echo's content path: a quantisation bottleneck on the content part, feeding CTC."""

import math
from typing import Dict, List, Optional, Tuple, Union

import torch
from typeguard import typechecked

from espnet2.asr.ctc import CTC
from espnet_echo.heads.abs_head import HeadOutput
from espnet_echo.heads.asr_multispkr import MultiSpkrASRHead

#: Values of the ``bottleneck`` option.
BOTTLENECKS = ("fsq", "vq", "none")


def codebook_stats(
    codes: torch.Tensor, valid: torch.Tensor, codebook_size: int
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Codebook usage and perplexity of the codes emitted on valid frames.

    Args:
        codes: Code indices (...,), integer, any value on invalid frames.
        valid: Bool mask of the same shape (True: a frame that counts).
        codebook_size: Number of codes C.

    Returns:
        usage: Share of the C codes emitted at least once, in [0, 1].
        perplexity: ``exp(H)`` of the empirical code distribution (H in nats), in
            [1, C]; 0 when no frame is valid.

    Raises:
        ValueError: ``codes`` and ``valid`` differ in shape, or a valid code is
            outside ``[0, C)``.
    """
    if codes.shape != valid.shape:
        raise ValueError(
            f"codes {tuple(codes.shape)} and valid {tuple(valid.shape)} differ in shape"
        )
    used = codes[valid.bool()].long().flatten()
    if used.numel() and (int(used.min()) < 0 or int(used.max()) >= codebook_size):
        raise ValueError(f"codes must be in [0, {codebook_size}) on valid frames")
    counts = torch.bincount(used, minlength=codebook_size).double()
    n = counts.sum()
    if n == 0:
        zero = torch.zeros((), dtype=torch.float32, device=codes.device)
        return zero, zero.clone()
    p = counts[counts > 0] / n
    usage = (counts > 0).sum().double() / codebook_size
    perplexity = torch.exp(-(p * p.log()).sum())
    return usage.float(), perplexity.float()


class ContentCTCHead(MultiSpkrASRHead):
    """Echo's content path: per-slot content projection, quantisation bottleneck, CTC.

    Echo (Ioannides et al., "Echo: A Joint-Embedding Predictive Architecture for
    Speaker Diarization and Speech Recognition in a Shared Latent Space"; summary in
    ``/work/shared/seeds``) reads phonetic content from its shared latent through a
    VQ bottleneck feeding CTC, and reports "a structural wall on end-to-end ASR
    through the VQ bottleneck". This head builds that path on the project's
    encoder so the wall can be measured (``bottleneck: none`` is the ablation).

    What "content part" and "speaker part" mean here. The encoder latent is never
    split in place: every task reads its own RWSE-weighted sum of the encoder
    layers. The *content part* is what this head extracts from the ASR task's RWSE
    features: per output slot, the speaker-differentiating stack of
    :class:`~espnet_echo.heads.asr_multispkr.MultiSpkrASRHead` (one SD transformer
    stack per slot and a shared recognition stack, reused by inheritance) gives a
    stream (B, S, T, D'), and a learned linear *content projection* maps it to a
    ``d_content``-dimensional content subspace (layer-normalised with
    ``content_norm``). Only that subspace goes through the
    quantiser, and CTC reads only the quantiser's output. The *speaker part* is
    everything else: the encoder latent and the RWSE features of the other tasks
    stay continuous, and the speaker head (ArcFace) keeps reading its own,
    unquantised, RWSE features. The bottleneck thus limits what reaches CTC
    (``log2(C)`` bits per slot and encoder frame for a codebook of C codes), not
    what the encoder may hold.

    Bottlenecks (``bottleneck``):

    * ``fsq``: finite scalar quantisation (Mentzer et al., "Finite Scalar
      Quantization: VQ-VAE Made Simple", 2023), ``vector_quantize_pytorch.FSQ``:
      each of ``len(fsq_levels)`` channels is bounded and rounded to
      ``fsq_levels[i]`` values (straight-through gradient); C = prod(fsq_levels).
      ``fsq_project: false`` quantises the content subspace itself and needs
      ``len(fsq_levels) == d_content``; ``true`` lets FSQ project ``d_content`` to
      ``len(fsq_levels)`` channels and back.
    * ``vq``: vector quantisation (van den Oord et al., "Neural Discrete
      Representation Learning", 2017), ``vector_quantize_pytorch.VectorQuantize``:
      nearest of ``vq_codebook_size`` codes of dimension ``d_content`` (the content
      projection is the only projection), EMA codebook updates (``vq_decay``),
      the commitment loss (weight ``vq_commitment_weight``) added to the CTC loss,
      k-means initialisation of the codebook on the first training batch
      (``vq_kmeans_init``) and dead-code replacement: a code whose EMA cluster size
      falls below ``vq_threshold_ema_dead_code`` is reset to a random frame of the
      batch (``threshold_ema_dead_code``). Padding frames are masked out of the
      codebook updates.
    * ``none``: identity (the continuous content projection feeds CTC; the same
      network otherwise, for the with/without comparison).

    Training is the CTC part of the parent head: PIT over the slots
    (:func:`espnet_echo.layers.pit.pit_assign` on the pairwise CTC cost of the
    bottleneck outputs), ``loss = loss_ctc (+ loss_commit for vq)``. There is no
    attention decoder: :meth:`decode` is the CTC best path of each slot, with
    ``token_frames`` and ``token_activity`` as in the parent.

    Output of :meth:`infer`: ``hs`` (B, S, T, d_content) the bottleneck outputs
    (zero on padding), ``hlens`` (B,), ``content_pre`` (B, S, T, d_content) the
    content projection before quantisation and, for ``fsq``/``vq``,
    ``content_codes`` (B, S, T) long code indices (-1 on padding) and, for ``vq``,
    ``content_commit_loss`` () the weighted commitment loss (0 in eval mode).

    Token conventions: ``<blank>`` = 0, ``<sos/eos>`` = vocab_size - 1, padding -1.

    Args:
        encoder_output_size: Feature dimension D of the encoder features.
        vocab_size: Vocabulary size V (including blank and sos/eos).
        token_list: Tokens (for CER/WER); None disables CER/WER.
        num_spk: Number of output slots S.
        output_size: Dimension D' of the slot streams; None keeps D.
        sd_num_blocks: Transformer blocks per speaker-differentiating stack.
        rec_num_blocks: Blocks of the shared recognition stack.
        attention_heads: Attention heads of the blocks.
        linear_units: Feed-forward units of the blocks.
        dropout_rate: Dropout of the blocks.
        attention_dropout_rate: Attention dropout of the blocks.
        bottleneck: ``fsq``, ``vq`` or ``none``.
        d_content: Dimension of the content subspace (<= D and <= D').
        content_norm: Layer-normalise the content projection before the bottleneck
            (every bottleneck, ``none`` included), which keeps FSQ's tanh bound out
            of saturation. Without it, a mini-recipe FSQ run (levels 8,5,5,5 behind
            a 64-d projection) put every frame on one code within its first epoch
            (perplexity 1) and stayed there: the bound's gradient is ~0 in
            saturation.
        fsq_levels: FSQ levels per channel (each >= 3).
        fsq_project: FSQ projects ``d_content`` to ``len(fsq_levels)`` channels.
        vq_codebook_size: VQ codes C (>= 2).
        vq_decay: EMA decay of the VQ codebook, in (0, 1).
        vq_commitment_weight: Weight of the VQ commitment loss (>= 0).
        vq_kmeans_init: Initialise the codebook by k-means on the first batch.
        vq_kmeans_iters: k-means iterations.
        vq_threshold_ema_dead_code: EMA cluster size below which a code is dead and
            replaced (>= 0; 0 disables replacement).
        sym_space: Space token (WER).
        sym_blank: Blank token.
        report_cer: Report CER when not training.
        report_wer: Report WER when not training.

    Raises:
        ValueError: an unknown ``bottleneck``; ``d_content`` outside
            [1, min(D, D')]; ``fsq_levels`` empty or with a level < 3, with more
            levels than ``d_content``, or (``fsq_project: false``) with a number of
            levels other than ``d_content``; ``vq_codebook_size < 2``;
            ``vq_decay`` outside (0, 1);
            a negative ``vq_commitment_weight`` or ``vq_threshold_ema_dead_code``;
            and the parent's errors (``num_spk``, ``vocab_size``, ``token_list``).
    """

    ref_kinds = ("text",)
    output_kinds = ("tokens",)
    build_args = ("encoder_output_size", "num_spk", "vocab_size", "token_list")
    #: CTC best path only (no attention decoder, so no beam search options).
    decode_options = ()

    @typechecked
    def __init__(
        self,
        encoder_output_size: int,
        vocab_size: int,
        token_list: Optional[Union[Tuple[str, ...], List[str]]] = None,
        num_spk: int = 3,
        output_size: Optional[int] = None,
        sd_num_blocks: int = 1,
        rec_num_blocks: int = 1,
        attention_heads: int = 4,
        linear_units: int = 1024,
        dropout_rate: float = 0.1,
        attention_dropout_rate: float = 0.0,
        bottleneck: str = "fsq",
        d_content: int = 6,
        content_norm: bool = True,
        fsq_levels: Union[Tuple[int, ...], List[int]] = (8, 8, 8, 5, 5, 5),
        fsq_project: bool = False,
        vq_codebook_size: int = 1024,
        vq_decay: float = 0.99,
        vq_commitment_weight: float = 0.25,
        vq_kmeans_init: bool = True,
        vq_kmeans_iters: int = 10,
        vq_threshold_ema_dead_code: float = 2.0,
        sym_space: str = "<space>",
        sym_blank: str = "<blank>",
        report_cer: bool = True,
        report_wer: bool = True,
    ):
        super().__init__(
            encoder_output_size,
            vocab_size,
            token_list=token_list,
            num_spk=num_spk,
            output_size=output_size,
            sd_num_blocks=sd_num_blocks,
            rec_num_blocks=rec_num_blocks,
            attention_heads=attention_heads,
            linear_units=linear_units,
            dropout_rate=dropout_rate,
            attention_dropout_rate=attention_dropout_rate,
            ctc_weight=1.0,  # CTC only: the parent builds no decoder
            sym_space=sym_space,
            sym_blank=sym_blank,
            report_cer=report_cer,
            report_wer=report_wer,
        )
        if bottleneck not in BOTTLENECKS:
            raise ValueError(f"bottleneck must be one of {BOTTLENECKS}, got {bottleneck!r}")
        stream = self.output_size()
        if not 1 <= d_content <= min(encoder_output_size, stream):
            raise ValueError(
                f"d_content={d_content} does not fit the features: it must be in "
                f"[1, {min(encoder_output_size, stream)}] (encoder_output_size="
                f"{encoder_output_size}, output_size={stream})"
            )
        self.bottleneck = bottleneck
        self.d_content = d_content
        self.content_proj = torch.nn.Linear(stream, d_content)
        self.content_norm = (
            torch.nn.LayerNorm(d_content) if content_norm else torch.nn.Identity()
        )
        # CTC reads the bottleneck output (d_content), not the D' stream
        self.ctc = CTC(vocab_size, d_content, reduce=False)

        self.quantizer: Optional[torch.nn.Module] = None
        self.codebook_size = 0
        if bottleneck == "fsq":
            levels = [int(v) for v in fsq_levels]
            if not levels or min(levels) < 3:
                raise ValueError(
                    f"fsq_levels must be a non-empty list of levels >= 3, got {levels}"
                )
            if len(levels) > d_content:
                raise ValueError(
                    f"fsq_levels has {len(levels)} levels, more than d_content="
                    f"{d_content}: the codebook does not fit the content dimension"
                )
            if not fsq_project and len(levels) != d_content:
                raise ValueError(
                    f"fsq_levels has {len(levels)} levels but d_content={d_content}; "
                    "without fsq_project the levels quantise the content channels "
                    "one to one (give d_content levels or set fsq_project: true)"
                )
            from vector_quantize_pytorch import FSQ

            self.quantizer = FSQ(levels=levels, dim=d_content)
            self.codebook_size = math.prod(levels)
        elif bottleneck == "vq":
            if vq_codebook_size < 2:
                raise ValueError(f"vq_codebook_size must be >= 2, got {vq_codebook_size}")
            if not 0.0 < vq_decay < 1.0:
                raise ValueError(f"vq_decay must be in (0, 1), got {vq_decay}")
            if vq_commitment_weight < 0:
                raise ValueError(
                    f"vq_commitment_weight must be >= 0, got {vq_commitment_weight}"
                )
            if vq_threshold_ema_dead_code < 0:
                raise ValueError(
                    "vq_threshold_ema_dead_code must be >= 0, got "
                    f"{vq_threshold_ema_dead_code}"
                )
            from vector_quantize_pytorch import VectorQuantize

            self.quantizer = VectorQuantize(
                dim=d_content,
                codebook_size=vq_codebook_size,
                decay=vq_decay,
                commitment_weight=vq_commitment_weight,
                kmeans_init=vq_kmeans_init,
                kmeans_iters=vq_kmeans_iters,
                threshold_ema_dead_code=vq_threshold_ema_dead_code,
            )
            self.codebook_size = vq_codebook_size

    # ---------------------------------------------------------------- forward
    def infer(
        self,
        feats: torch.Tensor,
        feats_lens: torch.Tensor,
        speech: Optional[torch.Tensor] = None,
        speech_lengths: Optional[torch.Tensor] = None,
    ) -> HeadOutput:
        """Per-slot content streams through the bottleneck.

        Args:
            feats: Encoder features (B, T, D).
            feats_lens: Valid frames (B,).
            speech: Unused (the head reads only the features).
            speech_lengths: Unused.

        Returns:
            ``hs`` (B, S, T, d_content), ``hlens`` (B,), ``content_pre``
            (B, S, T, d_content) and, by bottleneck, ``content_codes`` (B, S, T) and
            ``content_commit_loss`` () (class docstring).

        Raises:
            ValueError: feats not (B, T, D) or feats_lens not (B,).
        """
        streams, hlens = self.encode_slots(feats, feats_lens)
        z = self.content_norm(self.content_proj(streams))  # (B, S, T, d_content)
        bs, n_slots, t, dc = z.shape
        valid = torch.arange(t, device=z.device)[None, :] < hlens[:, None]  # (B, T)
        mask = valid[:, None, :].expand(bs, n_slots, t).reshape(bs * n_slots, t)
        flat = z.reshape(bs * n_slots, t, dc)
        out: HeadOutput = {"hlens": hlens, "content_pre": z}
        if self.bottleneck == "fsq":
            q, codes = self.quantizer(flat)
        elif self.bottleneck == "vq":
            q, codes, commit = self.quantizer(flat, mask=mask)
            out["content_commit_loss"] = commit.reshape(())
        else:
            q, codes = flat, None
        q = q * mask[..., None].to(q.dtype)  # zero on padding
        out["hs"] = q.reshape(bs, n_slots, t, dc)
        if codes is not None:
            codes = codes.long().masked_fill(~mask, -1)
            out["content_codes"] = codes.reshape(bs, n_slots, t)
        return out

    def loss(
        self,
        output: HeadOutput,
        text: Optional[torch.Tensor] = None,
        text_lengths: Optional[torch.Tensor] = None,
        num_spk: Optional[torch.Tensor] = None,
        **kwargs,
    ) -> Tuple[torch.Tensor, Dict[str, Optional[torch.Tensor]], torch.Tensor]:
        """PIT CTC loss of the bottleneck outputs (+ the VQ commitment loss).

        Args:
            output: :meth:`infer` output.
            text: Token ids (B, S', L) padded with -1, S' <= S (missing slots and
                zero-length rows are absent speakers).
            text_lengths: Tokens per transcript (B, S'), 0 for absent speakers.
            num_spk: Optional speaker count per utterance (B,), only validated.
            **kwargs: Ignored (other references).

        Returns:
            loss: Scalar, ``loss_ctc`` (+ ``loss_commit`` for vq).
            stats: ``loss``, ``loss_ctc``, ``cer``/``wer`` (CTC greedy, eval only,
                with a token_list); for fsq/vq ``code_usage`` (share of the C codes
                used by the batch's valid frames), ``code_perplexity`` (exp of the
                entropy of their code distribution, in [1, C]) and
                ``quant_mse`` (mean squared distance between the content projection
                and its quantised value per dimension); for vq ``loss_commit``
                (None in eval mode, where the library computes none).
            perm: (B, S): slot ``perm[b, k]`` is trained on reference ``k``.

        Raises:
            ValueError: missing or malformed text, token ids outside the
                vocabulary, more speakers than slots.
        """
        loss, parent_stats, perm = super().loss(
            output, text=text, text_lengths=text_lengths, num_spk=num_spk
        )
        stats: Dict[str, Optional[torch.Tensor]] = {
            k: v for k, v in parent_stats.items() if k not in ("loss_att", "acc")
        }
        if self.bottleneck != "none":
            codes = output["content_codes"]
            usage, ppl = codebook_stats(codes, codes >= 0, self.codebook_size)
            stats["code_usage"] = usage
            stats["code_perplexity"] = ppl
            with torch.no_grad():
                valid = (codes >= 0)[..., None].to(output["hs"].dtype)
                sq = ((output["hs"] - output["content_pre"]) ** 2 * valid).sum()
                denom = (valid.sum() * self.d_content).clamp(min=1)
                stats["quant_mse"] = (sq / denom).detach()
        if self.bottleneck == "vq":
            commit = output["content_commit_loss"]
            if self.training:
                loss = loss + commit
                stats["loss_commit"] = commit.detach()
            else:
                stats["loss_commit"] = None
        stats["loss"] = loss.detach()
        return loss, stats, perm

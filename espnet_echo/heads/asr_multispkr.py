# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Multi-speaker ASR head: speaker-differentiating stacks, shared CTC/attention."""

from itertools import groupby, permutations
from typing import Dict, List, Optional, Tuple, Union

import torch
from typeguard import typechecked

from espnet2.asr.ctc import CTC
from espnet2.asr.decoder.transformer_decoder import TransformerDecoder
from espnet2.legacy.nets.beam_search import BeamSearch
from espnet2.legacy.nets.e2e_asr_common import ErrorCalculator
from espnet2.legacy.nets.pytorch_backend.nets_utils import make_pad_mask, th_accuracy
from espnet2.legacy.nets.pytorch_backend.transformer.add_sos_eos import add_sos_eos
from espnet2.legacy.nets.pytorch_backend.transformer.attention import MultiHeadedAttention
from espnet2.legacy.nets.pytorch_backend.transformer.encoder_layer import EncoderLayer
from espnet2.legacy.nets.pytorch_backend.transformer.label_smoothing_loss import (
    LabelSmoothingLoss,
)
from espnet2.legacy.nets.pytorch_backend.transformer.layer_norm import LayerNorm
from espnet2.legacy.nets.pytorch_backend.transformer.positionwise_feed_forward import (
    PositionwiseFeedForward,
)
from espnet2.legacy.nets.pytorch_backend.transformer.repeat import repeat
from espnet2.legacy.nets.scorers.ctc import CTCPrefixScorer
from espnet_echo.heads.abs_head import AbsEchoHead


class MultiSpkrASRHead(AbsEchoHead):
    """Multi-speaker ASR head with permutation-invariant training.

    As in ESPnet's ``transformer_encoder_multispkr`` + ``pit_espnet`` model: the
    features go through one small speaker-differentiating (SD) transformer stack per
    output slot, then a shared recognition stack, giving one stream per slot. A
    shared CTC (``reduce=False``) and a shared attention decoder read every stream.

    Training: the CTC loss of every (slot, reference) pair is computed without
    gradient; the permutation of the S references (absent speakers = empty
    transcripts) minimising the summed CTC loss is chosen per utterance
    (exhaustive over the S! permutations); CTC and attention losses are then
    computed on the permuted references. An empty reference has CTC target "all
    blank" and decoder target ``<eos>``.
    ``loss = ctc_weight * loss_ctc + (1 - ctc_weight) * loss_att``, both averaged
    over the B * S streams (ESPnet's convention).

    Token conventions: ``<blank>`` = 0, ``<sos/eos>`` = vocab_size - 1, padding -1.

    Args:
        encoder_output_size: Feature dimension D of the encoder features.
        vocab_size: Vocabulary size V (including blank and sos/eos).
        token_list: Tokens (for CER/WER and logging); None disables CER/WER.
        num_spk: Number of output slots S.
        output_size: Attention dimension of the head's stacks; None keeps D,
            otherwise a linear projection D -> output_size is added.
        sd_num_blocks: Transformer blocks per speaker-differentiating stack.
        rec_num_blocks: Blocks of the shared recognition stack.
        attention_heads: Attention heads of the encoder blocks.
        linear_units: Feed-forward units of the encoder blocks.
        dropout_rate: Dropout of the encoder blocks.
        attention_dropout_rate: Attention dropout of the encoder blocks.
        decoder_conf: Keyword arguments of ESPnet's ``TransformerDecoder``
            (None: its defaults).
        ctc_weight: CTC weight in [0, 1]; 1 builds no decoder.
        lsm_weight: Label smoothing of the attention loss.
        length_normalized_loss: Normalise the attention loss by token count.
        sym_space: Space token (WER).
        sym_blank: Blank token.
        report_cer: Report CER when not training.
        report_wer: Report WER when not training.
    """

    required_keys = ("text", "text_lengths")

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
        decoder_conf: Optional[Dict] = None,
        ctc_weight: float = 0.3,
        lsm_weight: float = 0.1,
        length_normalized_loss: bool = False,
        sym_space: str = "<space>",
        sym_blank: str = "<blank>",
        report_cer: bool = True,
        report_wer: bool = True,
    ):
        super().__init__()
        if num_spk < 1:
            raise ValueError(f"num_spk must be >= 1, got {num_spk}")
        if not 0.0 <= ctc_weight <= 1.0:
            raise ValueError(f"ctc_weight must be in [0, 1], got {ctc_weight}")
        if vocab_size < 3:
            raise ValueError(f"vocab_size must be >= 3, got {vocab_size}")
        if token_list is not None and len(token_list) != vocab_size:
            raise ValueError(
                f"token_list has {len(token_list)} tokens but vocab_size={vocab_size}"
            )
        self.encoder_output_size = encoder_output_size
        self.vocab_size = vocab_size
        self.token_list = None if token_list is None else list(token_list)
        self.num_spk = num_spk
        self.blank_id = 0
        self.sos = self.eos = vocab_size - 1
        self.ignore_id = -1
        self.ctc_weight = ctc_weight

        adim = encoder_output_size if output_size is None else output_size
        self._output_size = adim
        if adim != encoder_output_size:
            self.input_layer = torch.nn.Sequential(
                torch.nn.Linear(encoder_output_size, adim),
                torch.nn.LayerNorm(adim),
                torch.nn.Dropout(dropout_rate),
            )
        else:
            self.input_layer = torch.nn.Identity()

        def block(lnum):
            return EncoderLayer(
                adim,
                MultiHeadedAttention(attention_heads, adim, attention_dropout_rate),
                PositionwiseFeedForward(adim, linear_units, dropout_rate),
                dropout_rate,
                normalize_before=True,
                concat_after=False,
            )

        self.encoders_sd = torch.nn.ModuleList(
            [repeat(sd_num_blocks, block) for _ in range(num_spk)]
        )
        self.encoders_rec = repeat(rec_num_blocks, block)
        self.after_norm = LayerNorm(adim)

        self.ctc = CTC(vocab_size, adim, reduce=False)
        if ctc_weight < 1.0:
            self.decoder = TransformerDecoder(vocab_size, adim, **(decoder_conf or {}))
        else:
            self.decoder = None
        self.criterion_att = LabelSmoothingLoss(
            size=vocab_size,
            padding_idx=self.ignore_id,
            smoothing=lsm_weight,
            normalize_length=length_normalized_loss,
        )
        if self.token_list is not None and (report_cer or report_wer):
            self.error_calculator = ErrorCalculator(
                self.token_list, sym_space, sym_blank, report_cer, report_wer
            )
        else:
            self.error_calculator = None
        self.report_cer = report_cer
        self.report_wer = report_wer
        self.register_buffer(
            "_perms",
            torch.tensor(list(permutations(range(num_spk))), dtype=torch.long),
            persistent=False,
        )
        #: Slot-to-reference permutation of the last forward (B, S): slot ``i`` was
        #: trained on reference ``last_perm[b, i]``.
        self.last_perm: Optional[torch.Tensor] = None

    def output_size(self) -> int:
        """Attention dimension of the per-slot streams."""
        return self._output_size

    # ---------------------------------------------------------------- encoding
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

    def encode_slots(
        self, feats: torch.Tensor, feats_lens: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Per-slot streams.

        Args:
            feats: Encoder features (B, T, D).
            feats_lens: Valid frames (B,).

        Returns:
            hs: Streams (B, S, T, output_size).
            hlens: Valid frames (B,).
        """
        self._check_feats(feats, feats_lens)
        hlens = feats_lens.to(feats.device).long()
        masks = (~make_pad_mask(hlens, maxlen=feats.size(1)))[:, None, :]
        x = self.input_layer(feats)
        streams = []
        for sd in self.encoders_sd:
            h, m = sd(x, masks)
            h, m = self.encoders_rec(h, m)
            streams.append(self.after_norm(h))
        return torch.stack(streams, dim=1), hlens

    # ------------------------------------------------------------------ losses
    def _check_text(
        self,
        text: torch.Tensor,
        text_lengths: torch.Tensor,
        bs: int,
        num_spk: Optional[torch.Tensor],
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        if text.dim() != 3 or text.size(0) != bs:
            raise ValueError(f"text must be (B={bs}, S, L), got {tuple(text.shape)}")
        if text_lengths.shape != text.shape[:2]:
            raise ValueError(
                f"text_lengths must be {tuple(text.shape[:2])}, "
                f"got {tuple(text_lengths.shape)}"
            )
        if num_spk is not None and int(num_spk.max()) > self.num_spk:
            raise ValueError(
                f"a mixture has {int(num_spk.max())} speakers but the head has "
                f"only {self.num_spk} slots"
            )
        text_lengths = text_lengths.long()
        n_ref = text.size(1)
        if n_ref > self.num_spk:
            if (text_lengths[:, self.num_spk :] > 0).any():
                raise ValueError(
                    f"text has non-empty transcripts beyond the head's "
                    f"{self.num_spk} slots"
                )
            text = text[:, : self.num_spk]
            text_lengths = text_lengths[:, : self.num_spk]
        elif n_ref < self.num_spk:
            pad = self.num_spk - n_ref
            text = torch.nn.functional.pad(text, (0, 0, 0, pad), value=self.ignore_id)
            text_lengths = torch.nn.functional.pad(text_lengths, (0, pad), value=0)
        max_len = int(text_lengths.max()) if text_lengths.numel() else 0
        text = text[:, :, :max_len]
        if max_len > 0 and ((text >= self.vocab_size) | (text < -1)).any():
            raise ValueError("text contains token ids outside [0, vocab_size)")
        return text, text_lengths

    def _pit_permutation(
        self,
        hs: torch.Tensor,
        hlens: torch.Tensor,
        text: torch.Tensor,
        text_lengths: torch.Tensor,
    ) -> torch.Tensor:
        """Best slot-to-reference permutation by CTC (B, S): slot i -> ref p[i]."""
        bs, n_slots, t, d = hs.shape
        max_len = text.size(2)
        with torch.no_grad():
            hs_pair = hs[:, :, None].expand(bs, n_slots, n_slots, t, d)
            ys_pair = text[:, None].expand(bs, n_slots, n_slots, max_len)
            yl_pair = text_lengths[:, None].expand(bs, n_slots, n_slots)
            pair = self.ctc(
                hs_pair.reshape(-1, t, d),
                hlens.repeat_interleave(n_slots * n_slots),
                ys_pair.reshape(bs * n_slots * n_slots, max_len),
                yl_pair.reshape(-1),
            ).reshape(bs, n_slots, n_slots)  # [b, slot, ref]
            slot_idx = torch.arange(n_slots, device=hs.device)
            perms = self._perms.to(hs.device)  # (P, S)
            cost = pair[:, slot_idx[None, :], perms].sum(-1)  # (B, P)
            return perms[cost.argmin(dim=1)]

    def _calc_att_loss(
        self,
        hs: torch.Tensor,
        hlens: torch.Tensor,
        ys_pad: torch.Tensor,
        ys_lens: torch.Tensor,
    ) -> Tuple[torch.Tensor, float]:
        ys_in_pad, ys_out_pad = add_sos_eos(ys_pad, self.sos, self.eos, self.ignore_id)
        ys_in_lens = ys_lens + 1
        decoder_out, _ = self.decoder(hs, hlens, ys_in_pad, ys_in_lens)
        loss_att = self.criterion_att(decoder_out, ys_out_pad)
        acc = th_accuracy(
            decoder_out.view(-1, self.vocab_size),
            ys_out_pad,
            ignore_label=self.ignore_id,
        )
        return loss_att, acc

    def _ctc_greedy(self, hs: torch.Tensor, hlens: torch.Tensor) -> List[List[int]]:
        """CTC best path, repeats collapsed, blank and sos/eos removed, per stream."""
        best = self.ctc.argmax(hs).cpu()
        out = []
        for seq, n in zip(best, hlens.cpu().tolist()):
            ids = [int(x[0]) for x in groupby(seq[:n].tolist())]
            out.append([i for i in ids if i not in (self.blank_id, self.eos)])
        return out

    def _error_rates(
        self, hs: torch.Tensor, hlens: torch.Tensor, ys_pad: torch.Tensor
    ) -> Tuple[Optional[float], Optional[float]]:
        """CER/WER of CTC greedy output over all B*S streams (absent speakers count
        their insertions); None when all references are empty."""
        ec = self.error_calculator
        hyps = self._ctc_greedy(hs, hlens)
        seqs_hat, seqs_true = [], []
        for hyp, ref in zip(hyps, ys_pad.cpu().tolist()):
            hat = "".join(self.token_list[i] for i in hyp)
            true = "".join(self.token_list[i] for i in ref if i != self.ignore_id)
            seqs_hat.append(hat.replace(ec.space, " ").replace(ec.blank, ""))
            seqs_true.append(true.replace(ec.space, " "))
        cer = wer = None
        if self.report_cer and sum(len(s.replace(" ", "")) for s in seqs_true) > 0:
            cer = ec.calculate_cer(seqs_hat, seqs_true)
        if self.report_wer and sum(len(s.split()) for s in seqs_true) > 0:
            wer = ec.calculate_wer(seqs_hat, seqs_true)
        return cer, wer

    def forward(
        self,
        feats: torch.Tensor,
        feats_lens: torch.Tensor,
        text: torch.Tensor = None,
        text_lengths: torch.Tensor = None,
        num_spk: torch.Tensor = None,
        **kwargs,
    ) -> Tuple[torch.Tensor, Dict[str, Optional[torch.Tensor]]]:
        """PIT CTC + attention loss.

        Args:
            feats: Encoder features (B, T, D).
            feats_lens: Valid frames (B,).
            text: Token ids (B, S', L) padded with -1, S' <= S (missing slots and
                zero-length rows are absent speakers).
            text_lengths: Tokens per transcript (B, S'), 0 for absent speakers.
            num_spk: Optional speaker count per utterance (B,), only validated.

        Returns:
            loss: Scalar.
            stats: ``loss``, ``loss_ctc``, ``loss_att``, ``acc`` and, when token_list
                is set, ``cer``/``wer`` of the CTC greedy output (None in training
                or when every reference is empty).
        """
        if text is None or text_lengths is None:
            raise ValueError("MultiSpkrASRHead.forward needs text and text_lengths")
        bs = feats.size(0)
        hs, hlens = self.encode_slots(feats, feats_lens)
        text, text_lengths = self._check_text(
            text.to(hs.device), text_lengths.to(hs.device), bs, num_spk
        )
        n_slots = self.num_spk

        perm = self._pit_permutation(hs, hlens, text, text_lengths)  # (B, S)
        self.last_perm = perm.detach().cpu()
        text = torch.gather(
            text, 1, perm[:, :, None].expand(bs, n_slots, text.size(2))
        )
        text_lengths = torch.gather(text_lengths, 1, perm)

        hs_flat = hs.reshape(bs * n_slots, hs.size(2), hs.size(3))
        hl_flat = hlens.repeat_interleave(n_slots)
        ys_flat = text.reshape(bs * n_slots, text.size(2))
        yl_flat = text_lengths.reshape(-1)

        loss_ctc = loss_att = acc = None
        if self.ctc_weight > 0.0:
            # reduce=False returns loss_i / (B*S): the sum is the mean per stream
            loss_ctc = self.ctc(hs_flat, hl_flat, ys_flat, yl_flat).sum()
        if self.ctc_weight < 1.0:
            loss_att, acc = self._calc_att_loss(hs_flat, hl_flat, ys_flat, yl_flat)

        if loss_att is None:
            loss = loss_ctc
        elif loss_ctc is None:
            loss = loss_att
        else:
            loss = self.ctc_weight * loss_ctc + (1.0 - self.ctc_weight) * loss_att

        stats = dict(
            loss=loss.detach(),
            loss_ctc=None if loss_ctc is None else loss_ctc.detach(),
            loss_att=None if loss_att is None else loss_att.detach(),
            acc=acc,
        )
        if self.error_calculator is not None:
            stats["cer"] = stats["wer"] = None
            if not self.training:
                with torch.no_grad():
                    stats["cer"], stats["wer"] = self._error_rates(
                        hs_flat, hl_flat, ys_flat
                    )
        return loss, stats

    # --------------------------------------------------------------- inference
    @torch.no_grad()
    def recognize(
        self,
        feats: torch.Tensor,
        feats_lens: Optional[torch.Tensor] = None,
        beam_size: int = 4,
        ctc_weight: float = 0.3,
        maxlenratio: float = 0.0,
        minlenratio: float = 0.0,
        greedy: bool = False,
        drop_empty: bool = True,
    ) -> List[List[int]]:
        """Transcribe one utterance, one hypothesis per slot.

        Args:
            feats: Encoder features (1, T, D).
            feats_lens: Valid frames (1,); None: all T.
            beam_size: Beam size.
            ctc_weight: CTC prefix-score weight of the joint beam search.
            maxlenratio: BeamSearch ``maxlenratio`` (0: up to T tokens).
            minlenratio: BeamSearch ``minlenratio``.
            greedy: CTC best-path decoding instead of beam search (fast). Also used
                when the head has no decoder.
            drop_empty: Drop empty hypotheses (null slots), so at most S remain.

        Returns:
            Token ids per (kept) slot, without blank/sos/eos.
        """
        if feats.dim() != 3 or feats.size(0) != 1:
            raise ValueError(
                f"recognize takes feats (1, T, D), got {tuple(feats.shape)}"
            )
        if feats_lens is None:
            feats_lens = torch.tensor([feats.size(1)], device=feats.device)
        was_training = self.training
        self.eval()  # no dropout while decoding; the mode is restored below
        try:
            hyps = self._recognize(
                feats,
                feats_lens,
                beam_size,
                ctc_weight,
                maxlenratio,
                minlenratio,
                greedy,
            )
        finally:
            self.train(was_training)
        if drop_empty:
            hyps = [h for h in hyps if len(h) > 0]
        return hyps

    def _recognize(
        self,
        feats: torch.Tensor,
        feats_lens: torch.Tensor,
        beam_size: int,
        ctc_weight: float,
        maxlenratio: float,
        minlenratio: float,
        greedy: bool,
    ) -> List[List[int]]:
        hs, hlens = self.encode_slots(feats, feats_lens)
        n = int(hlens[0])
        hs = hs[0, :, :n]  # (S, T, D)
        if greedy or self.decoder is None:
            return self._ctc_greedy(hs, hlens.new_full((self.num_spk,), n))
        beam = BeamSearch(
            scorers={
                "decoder": self.decoder,
                "ctc": CTCPrefixScorer(ctc=self.ctc, eos=self.eos),
            },
            weights={"decoder": 1.0 - ctc_weight, "ctc": ctc_weight},
            beam_size=beam_size,
            vocab_size=self.vocab_size,
            sos=self.sos,
            eos=self.eos,
            token_list=self.token_list,
            pre_beam_score_key="full",
        )
        hyps = []
        for s in range(self.num_spk):
            nbest = beam(x=hs[s], maxlenratio=maxlenratio, minlenratio=minlenratio)
            ids = nbest[0].yseq.tolist() if nbest else []
            special = (self.sos, self.eos, self.blank_id)
            hyps.append([i for i in ids if i not in special])
        return hyps

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Multi-speaker ASR head: speaker-differentiating stacks, shared CTC/attention."""

from itertools import groupby
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

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
from espnet_echo.heads.abs_head import AbsEchoHead, HeadOutput
from espnet_echo.layers.pit import inverse_permutation, pit_assign


class MultiSpkrASRHead(AbsEchoHead):
    """Multi-speaker ASR head with permutation-invariant training.

    As in ESPnet's ``transformer_encoder_multispkr`` + ``pit_espnet`` model: the
    features go through one small speaker-differentiating (SD) transformer stack per
    output slot, then a shared recognition stack, giving one stream per slot. A
    shared CTC (``reduce=False``) and a shared attention decoder read every stream.

    Training: the CTC loss of every (slot, reference) pair is computed without
    gradient; the assignment of the S references (absent speakers = empty
    transcripts) to the S slots minimising the summed CTC loss is chosen per
    utterance (exact, :func:`espnet_echo.layers.pit.pit_assign` on the pairwise CTC
    cost; ESPnet's ``pit_espnet`` enumerates the S! permutations for the same
    minimum); CTC and attention losses are then computed on the permuted
    references. An empty reference has CTC target "all
    blank" and decoder target ``<eos>``.
    ``loss = ctc_weight * loss_ctc + (1 - ctc_weight) * loss_att``, both averaged
    over the B * S streams (ESPnet's convention).

    Token conventions: ``<blank>`` = 0, ``<sos/eos>`` = vocab_size - 1, padding -1.

    Output of :meth:`infer`: ``hs`` (B, S, T, output_size) per-slot streams and
    ``hlens`` (B,). :meth:`decode` adds ``tokens`` (B, S, L) and ``token_lengths``
    (B, S): CTC best path when ``beam_size`` is 1 (or the head has no decoder),
    otherwise ESPnet's joint CTC/attention ``BeamSearch``, built once per
    (beam_size, ctc_weight) and kept (outside the state dict); ``token_frames``
    (B, S, L): the encoder frame of each token (the first frame of its run on the CTC
    best path; after beam search, its first frame in the CTC forced alignment of
    ``torchaudio.functional.forced_align``), and ``token_activity`` (B, T, S): each
    slot's non-blank CTC posterior per frame, the slot's speech activity as the ASR
    stream sees it (what :mod:`espnet_echo.inference.attribution` matches slots to
    speakers with).

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

    Raises:
        ValueError: ``num_spk < 1``, ``ctc_weight`` outside [0, 1],
            ``vocab_size < 3`` or a token_list of another length.
    """

    ref_kinds = ("text",)
    output_kinds = ("tokens",)
    build_args = ("encoder_output_size", "num_spk", "vocab_size", "token_list")
    decode_options = ("beam_size", "ctc_weight", "maxlenratio", "minlenratio")

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
        super().__init__(encoder_output_size, num_spk)
        if not 0.0 <= ctc_weight <= 1.0:
            raise ValueError(f"ctc_weight must be in [0, 1], got {ctc_weight}")
        if vocab_size < 3:
            raise ValueError(f"vocab_size must be >= 3, got {vocab_size}")
        if token_list is not None and len(token_list) != vocab_size:
            raise ValueError(
                f"token_list has {len(token_list)} tokens but vocab_size={vocab_size}"
            )
        self.vocab_size = vocab_size
        self.token_list = None if token_list is None else list(token_list)
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
        # BeamSearch per (beam_size, ctc_weight), built on first use. A plain dict:
        # the searches hold this head's decoder and CTC, and must stay out of the
        # module tree (state dict, .to()).
        self._beam_searches: Dict[Tuple[int, float], BeamSearch] = {}

    def output_size(self) -> int:
        """Attention dimension of the per-slot streams."""
        return self._output_size

    # ---------------------------------------------------------------- encoding
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

    def pairwise_ctc_cost(
        self,
        hs: torch.Tensor,
        hlens: torch.Tensor,
        text: torch.Tensor,
        text_lengths: torch.Tensor,
    ) -> torch.Tensor:
        """CTC loss of every (slot, reference) pair, without gradient.

        Args:
            hs: Streams (B, S, T, D').
            hlens: Valid frames (B,).
            text: References (B, S, L), padded with -1.
            text_lengths: (B, S).

        Returns:
            cost (B, S_slots, S_refs) (ESPnet's ``CTC(reduce=False)`` values, i.e.
            divided by the number of pairs, which does not change the assignment).
        """
        bs, n_slots, t, d = hs.shape
        n_refs, max_len = text.size(1), text.size(2)
        with torch.no_grad():
            hs_pair = hs[:, :, None].expand(bs, n_slots, n_refs, t, d)
            ys_pair = text[:, None].expand(bs, n_slots, n_refs, max_len)
            yl_pair = text_lengths[:, None].expand(bs, n_slots, n_refs)
            return self.ctc(
                hs_pair.reshape(-1, t, d),
                hlens.repeat_interleave(n_slots * n_refs),
                ys_pair.reshape(bs * n_slots * n_refs, max_len),
                yl_pair.reshape(-1),
            ).reshape(bs, n_slots, n_refs)  # [b, slot, ref]

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
        return [ids for ids, _ in self._ctc_greedy_timed(hs, hlens)]

    def _ctc_greedy_timed(
        self, hs: torch.Tensor, hlens: torch.Tensor
    ) -> List[Tuple[List[int], List[int]]]:
        """CTC best path per stream with the first frame of each emitted token.

        Returns:
            Per stream ``(ids, frames)``: repeats collapsed, blank and sos/eos removed.
        """
        best = self.ctc.argmax(hs).cpu()
        out = []
        for seq, n in zip(best, hlens.cpu().tolist()):
            ids, frames, t = [], [], 0
            for tok, run in groupby(seq[:n].tolist()):
                if tok not in (self.blank_id, self.eos):
                    ids.append(int(tok))
                    frames.append(t)
                t += len(list(run))
            out.append((ids, frames))
        return out

    def _align(self, h: torch.Tensor, ids: List[int]) -> List[int]:
        """First frame of each token of ``ids`` in the CTC forced alignment of stream
        ``h`` (T, D') (``torchaudio.functional.forced_align``, Viterbi over the CTC
        posteriors). When no alignment exists (more tokens, with the blanks between
        repeats, than frames), the tokens are spread evenly over the stream."""
        if not ids:
            return []
        import torchaudio.functional as taf

        n = h.size(0)
        try:
            logp = self.ctc.log_softmax(h[None]).float().cpu()
            path, _ = taf.forced_align(
                logp, torch.tensor([ids], dtype=torch.int32), blank=self.blank_id
            )
        except RuntimeError:
            return [int(i * n / len(ids)) for i in range(len(ids))]
        # a token starts where the path leaves blank or changes token (CTC puts a
        # blank between two equal tokens, so a run is one token)
        seq = path[0].tolist()
        return [t for t, tok in enumerate(seq)
                if tok != self.blank_id and (t == 0 or seq[t - 1] != tok)]

    def token_activity(self, hs: torch.Tensor, hlens: torch.Tensor) -> torch.Tensor:
        """Non-blank CTC posterior of each slot per frame.

        Args:
            hs: Streams (B, S, T, D').
            hlens: Valid frames (B,).

        Returns:
            (B, T, S) in [0, 1], zero on padding.
        """
        logp = self.ctc.log_softmax(hs)  # (B, S, T, V)
        act = 1.0 - logp[..., self.blank_id].exp()
        valid = torch.arange(hs.size(2), device=hs.device)[None, :] < hlens[:, None]
        return (act * valid[:, None, :]).transpose(1, 2)

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

    def infer(
        self,
        feats: torch.Tensor,
        feats_lens: torch.Tensor,
        speech: Optional[torch.Tensor] = None,
        speech_lengths: Optional[torch.Tensor] = None,
    ) -> HeadOutput:
        """Per-slot streams (see :meth:`encode_slots`).

        Args:
            feats: Encoder features (B, T, D).
            feats_lens: Valid frames (B,).
            speech: Unused (the head reads only the features).
            speech_lengths: Unused.

        Returns:
            ``hs`` (B, S, T, output_size) and ``hlens`` (B,).

        Raises:
            ValueError: feats not (B, T, D) or feats_lens not (B,).
        """
        hs, hlens = self.encode_slots(feats, feats_lens)
        return {"hs": hs, "hlens": hlens}

    def loss(
        self,
        output: HeadOutput,
        text: Optional[torch.Tensor] = None,
        text_lengths: Optional[torch.Tensor] = None,
        num_spk: Optional[torch.Tensor] = None,
        **kwargs,
    ) -> Tuple[torch.Tensor, Dict[str, Optional[torch.Tensor]], torch.Tensor]:
        """PIT CTC + attention loss.

        Args:
            output: :meth:`infer` output (``hs``, ``hlens``).
            text: Token ids (B, S', L) padded with -1, S' <= S (missing slots and
                zero-length rows are absent speakers).
            text_lengths: Tokens per transcript (B, S'), 0 for absent speakers.
            num_spk: Optional speaker count per utterance (B,), only validated.
            **kwargs: Ignored (other references).

        Returns:
            loss: Scalar.
            stats: ``loss``, ``loss_ctc``, ``loss_att``, ``acc`` and, when token_list
                is set, ``cer``/``wer`` of the CTC greedy output (None in training
                or when every reference is empty).
            perm: (B, S): slot ``perm[b, k]`` is trained on reference ``k``.

        Raises:
            ValueError: missing or malformed text, token ids outside the
                vocabulary, more speakers than slots.
        """
        if text is None or text_lengths is None:
            raise ValueError("MultiSpkrASRHead.loss needs text and text_lengths")
        hs, hlens = output["hs"], output["hlens"]
        bs = hs.size(0)
        text, text_lengths = self._check_text(
            text.to(hs.device), text_lengths.to(hs.device), bs, num_spk
        )
        n_slots = self.num_spk

        perm = pit_assign(self.pairwise_ctc_cost(hs, hlens, text, text_lengths))
        ref_of_slot = inverse_permutation(perm).to(hs.device)  # slot i -> reference
        text = torch.gather(
            text, 1, ref_of_slot[:, :, None].expand(bs, n_slots, text.size(2))
        )
        text_lengths = torch.gather(text_lengths, 1, ref_of_slot)

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
        return loss, stats, perm

    # --------------------------------------------------------------- inference
    def _beam_search(self, beam_size: int, ctc_weight: float) -> BeamSearch:
        """ESPnet's joint CTC/attention BeamSearch, built once per setting."""
        key = (int(beam_size), float(ctc_weight))
        if key not in self._beam_searches:
            self._beam_searches[key] = BeamSearch(
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
        return self._beam_searches[key]

    def _decode_streams(
        self,
        hs: torch.Tensor,
        n: int,
        beam_size: int,
        ctc_weight: float,
        maxlenratio: float,
        minlenratio: float,
    ) -> List[Tuple[List[int], List[int]]]:
        """One hypothesis per slot of one utterance's streams (S, T, D'), with the
        frame of each token.

        CTC best path when ``beam_size`` is 1 or the head has no decoder, else the
        joint CTC/attention beam search (ESPnet's ``BeamSearch``, as in
        ``espnet2.bin.asr_inference.Speech2Text``) and the CTC forced alignment of
        its result (:meth:`_align`).
        """
        hs = hs[:, :n]
        if beam_size == 1 or self.decoder is None:
            return self._ctc_greedy_timed(
                hs, torch.full((self.num_spk,), n, dtype=torch.long)
            )
        beam = self._beam_search(beam_size, ctc_weight)
        special = (self.sos, self.eos, self.blank_id)
        hyps = []
        for s in range(self.num_spk):
            nbest = beam(x=hs[s], maxlenratio=maxlenratio, minlenratio=minlenratio)
            ids = nbest[0].yseq.tolist() if nbest else []
            ids = [i for i in ids if i not in special]
            hyps.append((ids, self._align(hs[s], ids)))
        return hyps

    @torch.no_grad()
    def decode(self, output: HeadOutput, options: Mapping[str, Any]) -> HeadOutput:
        """Transcribe every slot of every utterance.

        Args:
            output: :meth:`infer` output (``hs``, ``hlens``).
            options: ``beam_size`` (default 1: CTC best path), ``ctc_weight`` (0.3),
                ``maxlenratio`` (0.0: up to T tokens), ``minlenratio`` (0.0), as in
                ESPnet's ``Speech2Text``.

        Returns:
            The output plus ``tokens`` (B, S, L) long, padded with -1, without
            blank/sos/eos, ``token_lengths`` (B, S) (0: empty hypothesis, a null
            slot), ``token_frames`` (B, S, L) (encoder frame of each token, -1 on
            padding) and ``token_activity`` (B, T, S) (:meth:`token_activity`).

        Raises:
            ValueError: ``beam_size < 1``.
        """
        beam_size = int(options.get("beam_size", 1))
        if beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {beam_size}")
        hs, hlens = output["hs"], output["hlens"]
        was_training = self.training
        self.eval()  # no dropout while decoding; the mode is restored below
        try:
            hyps = [
                self._decode_streams(
                    hs[b],
                    int(hlens[b]),
                    beam_size,
                    float(options.get("ctc_weight", 0.3)),
                    float(options.get("maxlenratio", 0.0)),
                    float(options.get("minlenratio", 0.0)),
                )
                for b in range(hs.size(0))
            ]
        finally:
            self.train(was_training)
        lengths = torch.tensor(
            [[len(ids) for ids, _ in hb] for hb in hyps], dtype=torch.long
        )
        shape = (hs.size(0), self.num_spk, max(1, int(lengths.max()) if hyps else 1))
        tokens = torch.full(shape, self.ignore_id, dtype=torch.long)
        frames = torch.full(shape, -1, dtype=torch.long)
        for b, hb in enumerate(hyps):
            for s, (ids, fr) in enumerate(hb):
                tokens[b, s, : len(ids)] = torch.tensor(ids, dtype=torch.long)
                frames[b, s, : len(fr)] = torch.tensor(fr, dtype=torch.long)
        with torch.no_grad():
            activity = self.token_activity(hs, hlens.to(hs.device))
        return {
            **output,
            "tokens": tokens.to(hs.device),
            "token_lengths": lengths.reshape(hs.size(0), self.num_spk).to(hs.device),
            "token_frames": frames.to(hs.device),
            "token_activity": activity,
        }

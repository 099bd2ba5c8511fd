# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""ESPnetEchoModel: one shared encoder, one RWSE per task, one head per task."""

import copy
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from espnet2.asr.encoder.abs_encoder import AbsEncoder
from espnet2.asr.frontend.abs_frontend import AbsFrontend
from espnet2.asr.specaug.abs_specaug import AbsSpecAug
from espnet2.layers.abs_normalize import AbsNormalize
from espnet2.torch_utils.device_funcs import force_gatherable
from typeguard import typechecked

from espnet_echo.heads.abs_head import AbsEchoHead, HeadOutput
from espnet_echo.layers.rwse import RWSE
from espnet_echo.unified.abs_model import AbsWaveformESPnetModel
from espnet_echo.unified.references import BatchContext, reference_kind

#: Head slots of the model, in order: ``<task>_head`` / ``<task>_weight`` arguments,
#: ``heads.<task>`` / ``rwse.<task>`` parameters, ``loss_<task>`` stats.
TASKS = ("diar", "sep", "asr", "spk")


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


class ESPnetEchoModel(AbsWaveformESPnetModel):
    """Diarization, separation, multi-speaker ASR and speaker embeddings on one encoder.

    ``speech -> frontend -> specaug -> normalize -> encoder -> [h_1..h_L], h_out``; each
    active head gets its own ``RWSE(h) = Σ_l softmax(w)_l h_l + h_out`` (UME's residual
    weighted-sum encoding) and returns its loss; the total loss is
    ``Σ_task weight_task · loss_task`` over the heads that are switched on.

    The model knows no head by name: it builds the references each head declares
    (``head.ref_kinds``, see :mod:`espnet_echo.unified.references`), calls
    ``head.loss(head.infer(...), **refs)`` in training and ``head.infer`` +
    ``head.decode`` in :meth:`infer`.

    Args:
        frontend: Waveform to features, e.g. log-mel (B, N) -> (B, T, F).
        specaug: Optional SpecAugment, applied in training only.
        normalize: Optional feature normalisation (GlobalMVN).
        encoder: Shared encoder; must support ``return_all_hs=True``.
        diar_head: Diarization head or None.
        sep_head: Separation head or None.
        asr_head: Multi-speaker ASR head or None.
        spk_head: Speaker-embedding head (e.g. ArcFace) or None.
        num_spk: Number of speaker slots S of every head.
        frame_shift: Waveform samples per encoder frame (frontend hop × encoder
            subsampling); used to align sample-level RTTM labels to encoder frames.
        num_layers: Number of encoder layer states the RWSEs fuse.
        diar_weight: Loss weight of the diarization head.
        sep_weight: Loss weight of the separation head.
        asr_weight: Loss weight of the ASR head.
        spk_weight: Loss weight of the speaker head (its AAM-softmax cross entropy is
            of the order of log(num_train_speakers) at the start, larger than the
            diarization BCE: lower it when the other tasks suffer).
        rwse_mode: ``"rwse"`` or ``"last"`` (ablation: the last layer only).
        extract_feats_in_collect_stats: Compute frontend features in collect-stats mode.
        anchor_weight: Weight of the frozen-encoder anchor term (Echo's "frozen JEPA
            anchor" of its staged specialisation): ``loss_anchor`` = mean squared
            difference, over the valid frames and the D features, between the
            encoder's last output on the mixture and the frozen target encoder's
            output on the mixture. 0 (default): no anchor term.

    The frozen target encoder (``target_encoder``):
        Built only when a head declares a reference kind with
        ``needs_target_encoder`` (``source_latents``: the K-set separation head's
        targets are the latents of each clean source) or ``anchor_weight > 0``; a
        model without either has exactly the state_dict keys it had before. It is a
        deep copy of ``encoder`` with ``requires_grad=False``, always in eval mode,
        run without gradient through the shared ``frontend`` and ``normalize`` (no
        SpecAugment; this project's frontend and GlobalMVN have no trained
        parameters, so sharing them is exact). The buffer ``target_initialised``
        (0/1) records whether it holds the snapshot: at the first forward in
        training mode with the flag 0, the encoder's current weights are copied in
        and the flag set. The weights the model trains from are then the targets:
        the *stage's starting encoder*, i.e. after ``--init_param`` (for a stage
        initialised from stage 5's ``latest.pth:target_encoder:encoder`` that is the
        JEPA EMA target encoder). Why a snapshot taken at the first step rather than
        a copy at construction: ESPnet loads ``--init_param`` after building the
        model, so only the first step sees the starting weights; and why a
        persistent buffer: ``checkpoint.pth`` / ``--resume`` and every DDP rank
        (identical weights at the first step) keep the same targets, instead of
        re-snapshotting an already-specialised encoder. Until the snapshot exists
        (a forward in eval mode before any training step) the live encoder, in eval
        mode without gradient, stands in for it. :meth:`infer` and
        :meth:`task_features` never run it (one encoder pass).

    State_dict keys of the target path: ``target_encoder.*`` (the encoder's keys
    under that prefix) and ``target_initialised``. A later stage initialised from a
    checkpoint of such a model without a target encoder of its own must exclude them
    (``--init_param <ckpt>:::target_encoder,target_initialised``); a stage that
    should re-snapshot its own starting encoder excludes them the same way (the
    flag is then 0 again).

    Raises:
        ValueError: no head, a negative weight, or a head declaring an unknown
            reference kind; a target encoder with a frontend that has trained
            parameters.
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
        spk_head: Optional[AbsEchoHead],
        num_spk: int,
        frame_shift: int,
        num_layers: int,
        diar_weight: float = 0.33,
        sep_weight: float = 0.33,
        asr_weight: float = 0.33,
        spk_weight: float = 0.33,
        rwse_mode: str = "rwse",
        extract_feats_in_collect_stats: bool = True,
        anchor_weight: float = 0.0,
    ):
        super().__init__()
        heads = dict(zip(TASKS, (diar_head, sep_head, asr_head, spk_head)))
        if all(h is None for h in heads.values()):
            raise ValueError(
                "at least one of " + ", ".join(f"{t}_head" for t in TASKS) + " must be set"
            )
        weights = dict(zip(TASKS, (diar_weight, sep_weight, asr_weight, spk_weight)))
        for task, w in weights.items():
            if heads[task] is not None and w < 0:
                raise ValueError(f"{task}_weight must be >= 0, got {w}")
        for head in heads.values():
            for kind in getattr(head, "ref_kinds", ()):
                reference_kind(kind)  # unknown kinds fail here, not at the first batch
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
        if anchor_weight < 0:
            raise ValueError(f"anchor_weight must be >= 0, got {anchor_weight}")
        self.anchor_weight = anchor_weight
        needs_target = anchor_weight > 0 or any(
            reference_kind(kind).needs_target_encoder
            for head in self.heads.values()
            for kind in head.ref_kinds
        )
        self.target_encoder: Optional[AbsEncoder] = None
        if needs_target:
            if frontend is not None and any(p.requires_grad for p in frontend.parameters()):
                raise ValueError(
                    "the frozen target encoder shares the frontend, which has trained "
                    "parameters here; use a frontend without them"
                )
            self.target_encoder = copy.deepcopy(encoder)
            for p in self.target_encoder.parameters():
                p.requires_grad_(False)
            self.target_encoder.eval()
            self.register_buffer("target_initialised", torch.zeros((), dtype=torch.long))

    def train(self, mode: bool = True) -> "ESPnetEchoModel":
        """``nn.Module.train``; the frozen target encoder stays in eval mode."""
        super().train(mode)
        if self.target_encoder is not None:
            self.target_encoder.eval()
        return self

    # ------------------------------------------------------------ target encoder
    @torch.no_grad()
    def snapshot_target_encoder(self) -> None:
        """Copy the encoder's current weights into ``target_encoder``; set the flag.

        Raises:
            RuntimeError: the model has no target encoder.
        """
        if self.target_encoder is None:
            raise RuntimeError("this model has no target encoder")
        self.target_encoder.load_state_dict(self.encoder.state_dict())
        self.target_initialised.fill_(1)

    @torch.no_grad()
    def target_latents(
        self, speech: torch.Tensor, speech_lengths: torch.Tensor
    ) -> torch.Tensor:
        """Frozen target encoder's last output on waveforms, without gradient.

        ``frontend -> normalize -> target_encoder`` (no SpecAugment, eval mode). Before
        the snapshot exists (``target_initialised == 0``) the live encoder, switched
        to eval mode for the call, stands in (see the class docstring).

        Args:
            speech: Waveforms (M, N).
            speech_lengths: Valid samples (M,).

        Returns:
            Latents (M, T, D), zero past each input's valid frames.

        Raises:
            RuntimeError: the model has no target encoder.
            ValueError: speech not (M, N) or lengths not (M,).
        """
        if self.target_encoder is None:
            raise RuntimeError("this model has no target encoder")
        self._check_speech(speech, speech_lengths)
        feats, feats_lens = self._extract_feats(speech, speech_lengths)
        feats, feats_lens = self._augment_normalize(feats, feats_lens, augment=False)
        encoder = self.target_encoder if int(self.target_initialised) else self.encoder
        was_training = encoder.training
        encoder.eval()
        try:
            out, lens, _ = encoder(feats, feats_lens)
        finally:
            encoder.train(was_training)
            self.target_encoder.eval()
        if isinstance(out, tuple):
            out = out[0]
        valid = torch.arange(out.shape[1], device=out.device)[None, :] < lens[:, None]
        return out * valid[:, :, None].to(out.dtype)

    @property
    def output_kinds(self) -> Tuple[str, ...]:
        """Standard output entries (``AbsEchoHead.output_kinds``) of :meth:`infer`."""
        kinds: Dict[str, None] = {}
        for head in self.heads.values():
            kinds.update(dict.fromkeys(head.output_kinds))
        return tuple(kinds)

    # ------------------------------------------------------------------ encoding
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
        feats, feats_lens = self._augment_normalize(feats, feats_lens)
        out, lens, _ = self.encoder(feats, feats_lens, return_all_hs=True)
        last, hs = out
        return last, list(hs), lens

    def fuse(self, task: str, last: torch.Tensor, hs: List[torch.Tensor]) -> torch.Tensor:
        """RWSE features of one task's head (B, T, D)."""
        return self.rwse[task](hs, last)

    def select_tasks(self, tasks: Optional[Sequence[str]]) -> List[str]:
        """The model's tasks named in ``tasks`` (None: all), in the model's order.

        Raises:
            ValueError: ``tasks`` is a string, or names a task the model does not
                have (the message lists the model's tasks).
        """
        if tasks is None:
            return list(self.heads)
        if isinstance(tasks, str):
            raise ValueError(f"tasks must be a sequence of task names, got {tasks!r}")
        unknown = [t for t in tasks if t not in self.heads]
        if unknown:
            raise ValueError(
                f"unknown task(s) {unknown}: this model has the tasks {list(self.heads)}"
            )
        return [t for t in self.heads if t in set(tasks)]

    @torch.no_grad()
    def task_features(
        self,
        speech: torch.Tensor,
        speech_lengths: torch.Tensor,
        tasks: Optional[Sequence[str]] = None,
    ) -> Dict[str, Tuple[torch.Tensor, torch.Tensor]]:
        """RWSE-fused features of each task from one encoder pass (for probes).

        Runs in eval mode (no specaug, no dropout; the mode is restored) without
        gradient.

        Args:
            speech: Mixture waveforms (B, N).
            speech_lengths: Valid samples (B,).
            tasks: Task names (a subset of the model's heads); None: every head.

        Returns:
            ``{task: (feats (B, T, D), lens (B,))}``, what the task's head reads.

        Raises:
            ValueError: speech not (B, N), speech_lengths not (B,), or an unknown
                task.
        """
        self._check_speech(speech, speech_lengths)
        selected = self.select_tasks(tasks)
        was_training = self.training
        self.eval()
        try:
            last, hs, lens = self.encode(speech, speech_lengths)
            return {task: (self.fuse(task, last, hs), lens) for task in selected}
        finally:
            self.train(was_training)

    @staticmethod
    def _check_speech(speech: torch.Tensor, speech_lengths: torch.Tensor) -> None:
        if speech.dim() != 2 or speech_lengths.shape != (speech.shape[0],):
            raise ValueError(
                f"takes speech (B, N) and speech_lengths (B,), got "
                f"{tuple(speech.shape)} and {tuple(speech_lengths.shape)}"
            )

    # ------------------------------------------------------------------ training
    def references(
        self,
        batch: Mapping[str, torch.Tensor],
        speech: torch.Tensor,
        speech_lengths: torch.Tensor,
        num_frames: int,
        mixture_latents: Optional[torch.Tensor] = None,
        tasks: Optional[Sequence[str]] = None,
    ) -> Dict[str, Dict[str, torch.Tensor]]:
        """Every head's references, built from the batch by the kinds it declares.

        Args:
            batch: The batch's other data (``speech_ref``, ``spk_labels``, ``num_spk``,
                ``text_spk<n>`` with ``*_lengths``, ...).
            speech: Mixtures (B, N).
            speech_lengths: (B,).
            num_frames: Encoder frames T of the batch.
            mixture_latents: The target encoder's output on the mixtures (B, T, D)
                (models with a target encoder; computed here when None).
            tasks: Only these heads' references (e.g. to score one head on data
                without the others' labels); None: every head.

        Returns:
            ``{task: {keyword: tensor}}``, the keyword arguments of each head's loss.

        Raises:
            ValueError: the batch lacks a data name a head's kind needs (the message
                names the data option to add), has more speakers than slots, or
                ``tasks`` names a task the model does not have.
        """
        selected = self.select_tasks(tasks)
        if self.target_encoder is not None and mixture_latents is None:
            mixture_latents = self.target_latents(speech, speech_lengths)
        ctx = BatchContext(
            speech=speech,
            speech_lengths=speech_lengths,
            num_slots=self.num_spk,
            num_frames=num_frames,
            frame_shift=self.frame_shift,
            target_encode=None if self.target_encoder is None else self.target_latents,
            mixture_latents=mixture_latents,
        )
        built: Dict[str, Dict[str, torch.Tensor]] = {}
        refs: Dict[str, Dict[str, torch.Tensor]] = {}
        for task in selected:
            head = self.heads[task]
            refs[task] = {}
            for name in head.ref_kinds:
                if name not in built:
                    kind = reference_kind(name)
                    missing = [n for n in kind.data_names(self.num_spk) if n not in batch]
                    if missing:
                        raise ValueError(
                            f"the '{task}' head ({type(head).__name__}) is on but the "
                            f"batch has no '{missing[0]}' ({kind.hint(self.num_spk)})"
                        )
                    built[name] = kind.build(batch, ctx)
                refs[task].update(built[name])
        return refs

    def head_losses(
        self, speech: torch.Tensor, speech_lengths: torch.Tensor, **batch: torch.Tensor
    ) -> Dict[str, Tuple[torch.Tensor, Dict[str, Optional[torch.Tensor]], torch.Tensor]]:
        """Each active head's ``(loss, stats, perm)`` from one encoder pass.

        Args:
            speech: Mixtures (B, N).
            speech_lengths: (B,).
            **batch: The references' data names (see :meth:`references`).

        Returns:
            ``{task: (loss, stats, perm)}`` with ``perm`` (B, S) the head's PIT
            assignment (``espnet_echo.layers.pit`` convention).

        Raises:
            ValueError: missing references (see :meth:`references`).
        """
        return self._losses(speech, speech_lengths, **batch)[0]

    def _losses(
        self, speech: torch.Tensor, speech_lengths: torch.Tensor, **batch: torch.Tensor
    ) -> Tuple[
        Dict[str, Tuple[torch.Tensor, Dict[str, Optional[torch.Tensor]], torch.Tensor]],
        Optional[torch.Tensor],
    ]:
        """:meth:`head_losses` and the anchor loss (None when ``anchor_weight == 0``).

        With a target encoder, a training-mode call with ``target_initialised == 0``
        first snapshots the encoder (see the class docstring).

        Raises:
            ValueError: missing references; target latents whose frame count differs
                from the encoder's.
        """
        if (
            self.target_encoder is not None
            and self.training
            and not int(self.target_initialised)
        ):
            self.snapshot_target_encoder()
        last, hs, lens = self.encode(speech, speech_lengths)
        mixture_latents = None
        if self.target_encoder is not None:
            mixture_latents = self.target_latents(speech, speech_lengths)
            if mixture_latents.shape != last.shape:
                raise ValueError(
                    f"target encoder output {tuple(mixture_latents.shape)} differs from "
                    f"the encoder's {tuple(last.shape)}"
                )
        refs = self.references(
            batch, speech, speech_lengths, last.shape[1], mixture_latents
        )
        out = {}
        for task, head in self.heads.items():
            output = head.infer(self.fuse(task, last, hs), lens, speech, speech_lengths)
            out[task] = head.loss(output, **refs[task])
        anchor = None
        if self.anchor_weight > 0:
            valid = torch.arange(last.shape[1], device=last.device)[None, :] < lens[:, None]
            sq = (last - mixture_latents).pow(2).sum(-1)  # (B, T)
            n = valid.sum().clamp(min=1) * last.shape[-1]
            anchor = (sq * valid).sum() / n
        return out, anchor

    def forward(
        self, speech: torch.Tensor, speech_lengths: torch.Tensor, **kwargs: torch.Tensor
    ) -> Tuple[torch.Tensor, Dict[str, Optional[torch.Tensor]], torch.Tensor]:
        """Joint loss of all active heads.

        Args:
            speech: Mixtures (B, N).
            speech_lengths: (B,).
            **kwargs: The batch's other data, read by the heads' reference kinds:
                ``speech_ref`` sources (B, N, K), K <= num_spk (absent sources are zero
                padding); ``spk_labels`` sample-level activity (B, N, K) from
                ``espnet_rttm``; ``num_spk`` (B, 1) or (B,); ``text_spk1..text_spkS``
                token ids (B, L) with ``*_lengths``; ``spk_ids`` training-speaker
                indices (B, K), -1 for unknown speakers and padding.

        Returns:
            loss, stats, weight (ESPnet's contract). The PIT permutations are dropped;
            :meth:`head_losses` returns them. With ``anchor_weight > 0`` the total
            includes ``anchor_weight * loss_anchor`` and ``loss_anchor`` is logged.

        Raises:
            ValueError: missing references (see :meth:`references`).
        """
        batch_size = speech.shape[0]
        stats: Dict[str, Optional[torch.Tensor]] = {}
        total = 0.0
        losses, anchor = self._losses(speech, speech_lengths, **kwargs)
        if anchor is not None:
            total = total + self.anchor_weight * anchor
            stats["loss_anchor"] = anchor.detach()
        for task, (loss, head_stats, _perm) in losses.items():
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

    # ----------------------------------------------------------------- inference
    @torch.no_grad()
    def infer(
        self,
        speech: torch.Tensor,
        speech_lengths: torch.Tensor,
        options: Optional[Mapping[str, Any]] = None,
    ) -> Dict[str, HeadOutput]:
        """Every head's output for a batch of mixtures, from one encoder pass.

        Runs in eval mode (no specaug, no dropout; the mode is restored) without
        gradient: ``head.decode(head.infer(RWSE_task(h), ...), options)`` per head.

        Args:
            speech: Mixture waveforms (B, N).
            speech_lengths: Valid samples (B,).
            options: Inference options, one flat mapping shared by the heads; each
                head reads the keys in its ``decode_options`` (e.g. ``beam_size``,
                ``ctc_weight`` for the ASR head). ``tasks``: the task names whose heads
                run (a subset of the model's; default all). None: defaults.

        Returns:
            ``{task: HeadOutput}`` for the selected tasks; the standard entries are
            described by ``espnet_echo.heads.abs_head.OUTPUT_KINDS``.

        Raises:
            ValueError: speech not (B, N), speech_lengths not (B,), or an unknown
                task in ``options["tasks"]``.
        """
        self._check_speech(speech, speech_lengths)
        options = dict(options or {})
        selected = self.select_tasks(options.pop("tasks", None))
        was_training = self.training
        self.eval()
        try:
            last, hs, lens = self.encode(speech, speech_lengths)
            outputs = {}
            for task in selected:
                head = self.heads[task]
                output = head.infer(self.fuse(task, last, hs), lens, speech, speech_lengths)
                mine = {k: v for k, v in options.items() if k in head.decode_options}
                outputs[task] = head.decode(output, mine)
        finally:
            self.train(was_training)
        return outputs

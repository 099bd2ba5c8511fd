# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""ESPnetEchoModel: one shared encoder, one RWSE per task, one head per task."""

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

    Raises:
        ValueError: no head, a negative weight, or a head declaring an unknown
            reference kind.
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
    ) -> Dict[str, Dict[str, torch.Tensor]]:
        """Every head's references, built from the batch by the kinds it declares.

        Args:
            batch: The batch's other data (``speech_ref``, ``spk_labels``, ``num_spk``,
                ``text_spk<n>`` with ``*_lengths``, ...).
            speech: Mixtures (B, N).
            speech_lengths: (B,).
            num_frames: Encoder frames T of the batch.

        Returns:
            ``{task: {keyword: tensor}}``, the keyword arguments of each head's loss.

        Raises:
            ValueError: the batch lacks a data name a head's kind needs (the message
                names the data option to add), or has more speakers than slots.
        """
        ctx = BatchContext(
            speech=speech,
            speech_lengths=speech_lengths,
            num_slots=self.num_spk,
            num_frames=num_frames,
            frame_shift=self.frame_shift,
        )
        built: Dict[str, Dict[str, torch.Tensor]] = {}
        refs: Dict[str, Dict[str, torch.Tensor]] = {}
        for task, head in self.heads.items():
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
        last, hs, lens = self.encode(speech, speech_lengths)
        refs = self.references(batch, speech, speech_lengths, last.shape[1])
        out = {}
        for task, head in self.heads.items():
            output = head.infer(self.fuse(task, last, hs), lens, speech, speech_lengths)
            out[task] = head.loss(output, **refs[task])
        return out

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
            :meth:`head_losses` returns them.

        Raises:
            ValueError: missing references (see :meth:`references`).
        """
        batch_size = speech.shape[0]
        stats: Dict[str, Optional[torch.Tensor]] = {}
        total = 0.0
        for task, (loss, head_stats, _perm) in self.head_losses(
            speech, speech_lengths, **kwargs
        ).items():
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

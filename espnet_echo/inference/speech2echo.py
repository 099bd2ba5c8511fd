# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Speech2Echo: diarize, separate and transcribe one recording with a trained Echo model."""

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from espnet2.text.build_tokenizer import build_tokenizer
from espnet2.text.token_id_converter import TokenIDConverter
from typeguard import typechecked

from espnet_echo import registry
from espnet_echo.cluster.plda import PLDA
from espnet_echo.cluster.vbx import VBx, resolve_num_speakers
from espnet_echo.heads.abs_head import HeadOutput
from espnet_echo.inference.blind_diar import BlindDiarResult, blind_diarize, speech_and_count
from espnet_echo.inference.chunking import chunk_starts, link_slots, stitch_frames
from espnet_echo.inference.precision import (
    autocast,
    check_quantize,
    fp32_islands,
    keep_fp32,
    outputs_to_float32,
    quantize_linear,
    resolve_dtype,
)
from espnet_echo.tasks.echo import EchoTask
from espnet_echo.utils.archive import check_archive
from espnet_echo.utils.fileio import file_digest

registry.register()

#: Output kinds that count speakers, in order of precedence (see Speech2Echo).
COUNT_ORDER = ("activity", "sources", "tokens")
#: Frame-level outputs stitched across chunks: ``{kind: its lengths entry}``.
FRAME_KINDS = {"activity": "activity_lengths", "speaker_frames": "speaker_frames_lengths"}
DIAR_MODES = ("eend", "vbx")


def build_model(train_config: Union[Path, str], device: str = "cpu"):
    """Build an ESPnetEchoModel (initial weights) from its training config.

    Args:
        train_config: ``config.yaml`` written by training.
        device: Torch device.

    Returns:
        ``(model, args)``.

    Raises:
        ValueError: a file the config names (e.g. the GlobalMVN statistics of
            ``normalize_conf``) does not exist; such paths are relative to the directory
            training ran in (the recipe dir), so the message says to run from there.
    """
    try:
        return EchoTask.build_model_from_file(train_config, None, device)
    except FileNotFoundError as e:
        raise ValueError(
            f"{train_config}: {e.filename or e} not found from {Path.cwd()}: the config "
            "names files relative to the directory training ran in (the recipe dir); run "
            "from there"
        ) from None


def load_model(
    train_config: Union[Path, str], model_file: Union[Path, str], device: str = "cpu"
):
    """Build an ESPnetEchoModel from its training config and load its checkpoint.

    Args:
        train_config: ``config.yaml`` written by training.
        model_file: Checkpoint (``*.pth``), loaded with ``weights_only=True``.
        device: Torch device.

    Returns:
        ``(model, args)``: the model in eval mode and the training arguments.

    Raises:
        RuntimeError: missing or unexpected keys (ESPnet itself loads with
            ``strict=False``; here a mismatch is an error naming both files).
        ValueError: a file the config names is missing (:func:`build_model`).
    """
    model, args = build_model(train_config, device)
    state = torch.load(model_file, map_location=device, weights_only=True)
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise RuntimeError(
            f"{model_file} does not match {train_config}: missing keys "
            f"{result.missing_keys[:5]}, unexpected keys {result.unexpected_keys[:5]}"
        )
    return model.eval(), args


@dataclass
class EchoResult:
    """What Speech2Echo returns for one recording.

    Attributes:
        num_spk: Estimated number of speakers K̂.
        segments: Speaker turns ``(start_s, end_s, speaker_index)``, speaker_index < K̂.
        sources: Separated waveforms (K̂, N) or None without a separation head.
        texts: One transcript per recognised speaker, or None without an ASR head.
    """

    num_spk: int
    segments: List[Tuple[float, float, int]] = field(default_factory=list)
    sources: Optional[np.ndarray] = None
    texts: Optional[List[str]] = None


class Speech2Echo:
    """Run a trained ESPnetEchoModel on single recordings.

    **Passes.** A recording of at most ``chunk_s`` goes through the encoder in one pass
    (``ESPnetEchoModel.infer``) with the heads of ``tasks``. A longer one is cut into
    chunks of ``chunk_s`` every ``chunk_hop_s`` (``chunk_batch`` chunks per forward, so
    memory is bounded by ``chunk_batch x chunk_s``), and only its diarization and
    speaker heads run: the frame-level outputs are stitched, each frame from the chunk
    where it is most central, EEND slots linked across chunks by PIT over the shared
    frames (:mod:`espnet_echo.inference.chunking`). Separation and ASR of long
    recordings are not stitched (a later issue): ``sources`` and ``texts`` are None,
    with one logged warning.

    **Policy.** One post-processing policy over the heads' standard outputs
    (``espnet_echo.heads.abs_head.OUTPUT_KINDS``), whatever heads produced them:

    1. **Speaker count K̂ and segments**, from the first output present in this order:

       * ``activity`` (diarization), by ``diar_mode``:

         - ``eend`` (default): a slot is a speaker when its posterior, thresholded at
           ``diar_threshold`` and median-filtered over ``median_frames``, is active
           at least ``min_speaker_sec``; segments are the turns of the counted slots,
           speakers numbered 0..K̂-1 in slot order. At most ``num_spk`` (the model's
           slots) speakers per recording, long ones included.
         - ``vbx``: blind diarization (:mod:`espnet_echo.inference.blind_diar`): the
           speaker head's frames pooled over windows of its ``window_s``/``hop_s``
           that are mostly speech (speech and overlap count from the same
           thresholded, median-filtered activity), PLDA (``plda_file``), VBx with
           ``num_speakers``/``min_speakers``/``max_speakers`` (pyannote's
           semantics); K̂ is the number of VBx speakers, segments their turns
           (speakers numbered by first appearance), any number of speakers;

       * ``sources`` (separation): a slot is a speaker when its energy relative to
         the mixture is above ``sep_null_db``;
       * ``tokens`` (ASR): a slot is a speaker when its transcript is not empty.

       Activity comes first because it is the only output trained with absent
       speakers as explicit all-zero targets over time; a separation slot's energy
       and an ASR slot's emptiness are the fallbacks when no diarization head exists.
    2. **Sources**: the K̂ loudest separation slots, in slot order (without an
       activity output these are exactly the slots above ``sep_null_db``).
    3. **Texts**: the non-empty transcripts in slot order (not cut to K̂).

    Speaker ``k`` of the segments, of the sources and of the texts are not yet
    linked to each other (each follows its own head's slot order).

    Args:
        train_config: ``config.yaml`` written by training.
        model_file: Checkpoint (``*.pth``); loaded with ``weights_only=True`` and checked
            for missing/unexpected keys (ESPnet itself loads with ``strict=False``).
        device: Torch device.
        fs: Sample rate the model expects.
        diar_threshold: Activity threshold on the diarization posteriors.
        min_speaker_sec: An EEND slot is a speaker if it is active at least this long
            (``diar_mode: eend``).
        median_frames: Median filter width (encoder frames) on activity, odd.
        sep_null_db: Separation slots quieter than this (dB re. the mixture) are null.
        beam_size: ASR beam (1 = greedy CTC).
        ctc_weight: CTC weight in joint beam search.
        diar_mode: ``"eend"`` or ``"vbx"`` (see the policy).
        plda_file: PLDA ``.npz`` (``espnet_echo.bin.fit_plda``); required for ``vbx``.
        num_speakers: Exact speaker count for ``vbx``, or None.
        min_speakers: Lower bound of the count for ``vbx``, or None.
        max_speakers: Upper bound of the count for ``vbx``, or None.
        vbx_threshold: AHC cut of the VBx initialisation (cosine distance, (0, 2)).
        loopP: VBx speaker-turn self-loop probability per window.
        Fa: VBx acoustic scaling factor.
        Fb: VBx speaker-regularisation factor.
        min_speech_share: Least speech share of a ``vbx`` window (see blind_diar).
        chunk_s: Recordings longer than this (seconds) are processed in chunks.
        chunk_hop_s: Hop between chunks in seconds (None: ``chunk_s / 2``), in
            ``(0, chunk_s)``; both are rounded to whole encoder frames.
        chunk_batch: Chunks per forward pass, >= 1.
        tasks: Heads to run (task names, e.g. ``["diar", "sep"]``); None: every head
            the policy reads (the speaker head only for ``vbx``). ``vbx`` adds the
            diarization and speaker heads.
        dtype: ``"float32"`` (default), ``"bfloat16"`` (the forward pass under bf16
            autocast; frontend, normalisation, the separation head's waveform
            encoder/decoder and the heads' search (``decode``) stay fp32) or
            ``"auto"`` (bfloat16 where the device supports it, else float32); see
            :mod:`espnet_echo.inference.precision`. ``self.dtype`` is the resolved one.
        quantize: ``"none"`` (default) or ``"int8"``: every ``nn.Linear`` dynamically
            quantised to int8 (CPU, with float32 only).

    Raises:
        RuntimeError: the checkpoint does not match the config.
        ValueError: a bad option (``dtype bfloat16`` on a device without bf16
            support, ``quantize int8`` with bf16 or off CPU); ``vbx`` without a
            diarization (activity) head, a speaker head or ``plda_file``, or with a
            PLDA whose dimension is not the head's ``embed_dim`` (naming the file);
            an unknown task.
        DataFileError: an unreadable PLDA file (naming it).
    """

    @typechecked
    def __init__(
        self,
        train_config: Union[Path, str],
        model_file: Union[Path, str],
        device: str = "cpu",
        fs: int = 16000,
        diar_threshold: float = 0.5,
        min_speaker_sec: float = 0.3,
        median_frames: int = 5,
        sep_null_db: float = -20.0,
        beam_size: int = 1,
        ctc_weight: float = 0.3,
        diar_mode: str = "eend",
        plda_file: Union[Path, str, None] = None,
        num_speakers: Optional[int] = None,
        min_speakers: Optional[int] = None,
        max_speakers: Optional[int] = None,
        vbx_threshold: float = 0.6,
        loopP: float = 0.97,
        Fa: float = 0.9,
        Fb: float = 17.0,
        min_speech_share: float = 0.5,
        chunk_s: float = 10.0,
        chunk_hop_s: Optional[float] = None,
        chunk_batch: int = 1,
        tasks: Optional[Sequence[str]] = None,
        dtype: str = "float32",
        quantize: str = "none",
    ):
        if diar_mode not in DIAR_MODES:
            raise ValueError(f"diar_mode must be one of {DIAR_MODES}, got {diar_mode!r}")
        if chunk_batch < 1:
            raise ValueError(f"chunk_batch must be >= 1, got {chunk_batch}")
        #: Resolved precision: ``"float32"`` or ``"bfloat16"``.
        self.dtype = resolve_dtype(dtype, device)
        check_quantize(quantize, self.dtype, device)
        self.quantize = quantize
        model, args = load_model(train_config, model_file, device)
        if self.dtype == "bfloat16":
            for obj, method in fp32_islands(model):
                keep_fp32(obj, method, torch.device(device).type)
        #: Encoder parameters, counted before quantisation (a dynamically quantised
        #: linear keeps its weights packed, not as parameters).
        self.encoder_params = sum(p.numel() for p in model.encoder.parameters())
        if quantize == "int8":
            quantize_linear(model)
        self.model = model
        self.args = args
        self.device = device
        self.fs = fs
        self.diar_threshold = diar_threshold
        self.min_speaker_sec = min_speaker_sec
        self.median_frames = median_frames
        self.sep_null_db = sep_null_db
        self.diar_mode = diar_mode
        #: Decoding options handed to ``model.infer`` (each head reads its own keys).
        self.options = dict(beam_size=beam_size, ctc_weight=ctc_weight)
        heads = dict(model.heads.items())
        self.diar_task = next(
            (t for t, h in heads.items() if "activity" in h.output_kinds), None
        )
        self.spk_task = next(
            (t for t, h in heads.items()
             if "speaker_frames" in h.output_kinds and hasattr(h, "embed")), None,
        )
        known = list(heads)
        if tasks is not None:
            unknown = [t for t in tasks if t not in heads]
            if isinstance(tasks, str) or unknown:
                raise ValueError(
                    f"tasks {tasks!r}: unknown task(s) {unknown}; this model has the "
                    f"tasks {known}"
                )
            selected = set(tasks)
        else:
            selected = {t for t in known if t != self.spk_task}
        self.plda = self.vbx = None
        self.count_bounds = dict(
            num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers
        )
        self.min_speech_share = min_speech_share
        given = [k for k, v in self.count_bounds.items() if v is not None]
        if diar_mode != "vbx" and given:
            logging.warning(
                f"{', '.join(given)} bound(s) the speaker count of diar_mode 'vbx' only; "
                f"diar_mode {diar_mode!r} ignores them"
            )
        if diar_mode == "vbx":
            self._setup_vbx(plda_file, known, model_file)
            selected |= {self.diar_task, self.spk_task}
            resolve_num_speakers(2**31, num_speakers, min_speakers, max_speakers)
            if not 0.0 < min_speech_share <= 1.0:
                raise ValueError(
                    f"min_speech_share must be in (0, 1], got {min_speech_share}"
                )
            self.vbx = VBx(threshold=vbx_threshold, loopP=loopP, Fa=Fa, Fb=Fb)
        #: Tasks run on a recording of at most ``chunk_s``, in the model's order.
        self.tasks = [t for t in known if t in selected]
        #: Tasks run on the chunks of a longer one.
        self.chunk_tasks = [t for t in self.tasks if t in (self.diar_task, self.spk_task)]
        self.output_kinds = tuple(
            dict.fromkeys(k for t in self.tasks for k in heads[t].output_kinds)
        )
        hop_s = chunk_s / 2 if chunk_hop_s is None else chunk_hop_s
        frame_shift = model.frame_shift
        self.chunk_frames = max(1, int(round(chunk_s / self.frame_sec)))
        self.chunk_hop_frames = max(1, int(round(hop_s / self.frame_sec)))
        if not self.chunk_hop_frames < self.chunk_frames:
            raise ValueError(
                f"need 0 < chunk_hop_s < chunk_s in whole encoder frames of "
                f"{self.frame_sec} s, got chunk_s={chunk_s}, chunk_hop_s={chunk_hop_s}"
            )
        self.chunk_samples = self.chunk_frames * frame_shift
        self.chunk_batch = chunk_batch
        self._warned_chunks = False
        self.tokenizer = self.converter = None
        if "tokens" in self.output_kinds:
            self.tokenizer = build_tokenizer(
                token_type=args.token_type, bpemodel=args.bpemodel
            )
            self.converter = TokenIDConverter(token_list=args.token_list)

    def _setup_vbx(
        self, plda_file: Union[Path, str, None], known: List[str], model_file: Union[Path, str]
    ) -> None:
        """Check the heads and load the PLDA of ``diar_mode: vbx``.

        A PLDA written by ``fit_plda`` records the digest of the checkpoint whose
        embeddings it was fitted on; another checkpoint (another model, or another epoch
        of the same one) embeds speakers differently, so it is refused. A PLDA without
        that record (written by other code) is used with a warning.
        """
        if self.diar_task is None:
            raise ValueError(
                "diar_mode 'vbx' needs a diarization head with an 'activity' output (for "
                f"speech activity and overlap count); this model has the tasks {known}"
            )
        if self.spk_task is None:
            raise ValueError(
                "diar_mode 'vbx' needs a speaker head with a 'speaker_frames' output "
                f"and embed() (e.g. --spk_head arcface); this model has the tasks {known}"
            )
        if plda_file is None:
            raise ValueError(
                "diar_mode 'vbx' needs plda_file (fit one with python -m "
                "espnet_echo.bin.fit_plda)"
            )
        self.plda = PLDA.load(plda_file)
        mine = f"model {file_digest(model_file)}"
        if self.plda.embedder is None:
            logging.warning(
                f"{plda_file} does not record which model it was fitted for; make sure it "
                f"is {model_file}'s (python -m espnet_echo.bin.fit_plda writes that record)"
            )
        elif self.plda.embedder != mine:
            raise ValueError(
                f"{plda_file} was fitted on the embeddings of another checkpoint "
                f"({self.plda.embedder}), not of {model_file} ({mine}); fit one for this "
                "model with python -m espnet_echo.bin.fit_plda"
            )
        embed_dim = getattr(self.model.heads[self.spk_task], "embed_dim", None)
        if embed_dim is not None and self.plda.input_dim != embed_dim:
            raise ValueError(
                f"{plda_file}: the PLDA takes {self.plda.input_dim}-dim embeddings but the "
                f"speaker head gives {embed_dim}-dim ones (a PLDA of another model?)"
            )

    @staticmethod
    def from_pretrained(model_tag: str, cachedir: Optional[str] = None, **kwargs):
        """Build from a packed model (zip path) or model-zoo tag via espnet_model_zoo.

        A local archive is checked for path traversal before it is unpacked.
        """
        from espnet_model_zoo.downloader import ModelDownloader

        if Path(model_tag).is_file():
            check_archive(model_tag)
        cachedir = cachedir or str(Path.home() / ".cache" / "espnet_echo")
        files = ModelDownloader(cachedir=cachedir).download_and_unpack(model_tag)
        return Speech2Echo(
            train_config=files["echo_train_config"], model_file=files["echo_model_file"],
            **kwargs,
        )

    @property
    def frame_sec(self) -> float:
        """Seconds per encoder frame."""
        return self.model.frame_shift / self.fs

    @property
    def has_diarization(self) -> bool:
        """Whether results carry speaker turns (the model has an activity output)."""
        return "activity" in self.output_kinds

    def check_input(self, speech: np.ndarray, name: str = "input") -> np.ndarray:
        """Validate a waveform: 1-D (or (N, 1)), finite, at least two encoder frames.

        Raises:
            ValueError: not mono, empty, NaN/Inf, or too short.
        """
        speech = np.asarray(speech, dtype=np.float32)
        if speech.ndim == 2 and 1 in speech.shape:
            speech = speech.reshape(-1)
        if speech.ndim != 1:
            raise ValueError(f"{name}: expected mono audio (N,), got shape {speech.shape}")
        if speech.size == 0:
            raise ValueError(f"{name}: empty audio")
        if not np.all(np.isfinite(speech)):
            raise ValueError(f"{name}: audio contains NaN or Inf")
        if speech.size < 2 * self.model.frame_shift:
            raise ValueError(
                f"{name}: {speech.size} samples is shorter than two encoder frames "
                f"({2 * self.model.frame_shift} samples)"
            )
        return speech

    @torch.inference_mode()
    def __call__(self, speech: np.ndarray, name: str = "input") -> EchoResult:
        """Diarize, separate and transcribe one mono recording at ``fs``.

        Args:
            speech: Waveform (N,).
            name: Used in error messages.

        Returns:
            EchoResult. Silent input gives K̂=0, no segments, no sources, no texts. A
            recording longer than ``chunk_s`` has no sources and no texts (see the
            class docstring).

        Raises:
            ValueError: invalid audio (see :meth:`check_input`); in ``vbx`` mode,
                speaker counts the recording cannot satisfy or NaN speaker frames
                (naming ``name``).
        """
        speech = self.check_input(speech, name)
        if not np.any(speech):
            return EchoResult(num_spk=0, segments=[], sources=None, texts=None)
        if len(speech) > self.chunk_samples:
            out = self._infer_chunked(speech)
        else:
            x = torch.from_numpy(speech)[None].to(self.device)
            x_lens = torch.tensor([x.shape[1]], device=self.device)
            outputs = self._infer(x, x_lens, dict(self.options, tasks=self.tasks))
            out = {
                k: v for task, o in outputs.items() if task in self.tasks
                for k, v in o.items()
            }
        return self.postprocess(out, duration=len(speech) / self.fs, name=name)

    def _infer(
        self, x: torch.Tensor, x_lens: torch.Tensor, options: Dict
    ) -> Dict[str, HeadOutput]:
        """``model.infer`` in ``self.dtype``; floating outputs are float32."""
        with autocast(self.dtype, self.device):
            outputs = self.model.infer(x, x_lens, options)
        return outputs_to_float32(outputs) if self.dtype != "float32" else outputs

    def _infer_chunked(self, speech: np.ndarray) -> HeadOutput:
        """Frame-level outputs of a long recording, chunk by chunk, stitched.

        Returns:
            ``activity`` / ``speaker_frames`` (1, T, .) with their ``*_lengths`` (1,), T
            the frames of one pass over the whole recording.
        """
        if not self._warned_chunks and set(self.tasks) - set(self.chunk_tasks):
            logging.warning(
                f"recordings longer than {self.chunk_samples / self.fs} s are processed "
                f"in chunks with the heads {self.chunk_tasks} only: no separated sources "
                "or transcripts for them (long-audio stitching of those is not built)"
            )
            self._warned_chunks = True
        shift = self.model.frame_shift
        starts = chunk_starts(
            len(speech), self.chunk_samples, self.chunk_hop_frames * shift, shift
        )
        options = dict(self.options, tasks=self.chunk_tasks)
        chunks: Dict[str, List[np.ndarray]] = {}
        # the last chunk may be shorter: it goes alone, so no chunk is ever padded and
        # the result does not depend on chunk_batch
        full = len(starts) - (len(speech) - starts[-1] < self.chunk_samples)
        groups = [starts[i:min(i + self.chunk_batch, full)]
                  for i in range(0, full, self.chunk_batch)] + [starts[full:]]
        for group in filter(None, groups):
            part = [speech[s:s + self.chunk_samples] for s in group]
            x = torch.from_numpy(np.stack(part))
            x_lens = torch.full((len(part),), x.shape[1])
            outputs = self._infer(x.to(self.device), x_lens.to(self.device), options)
            flat = {
                k: v for task, o in outputs.items() if task in self.chunk_tasks
                for k, v in o.items()
            }
            for kind, lens_key in FRAME_KINDS.items():
                if kind in flat:
                    for b in range(len(part)):
                        n = int(flat[lens_key][b])
                        chunks.setdefault(kind, []).append(
                            flat[kind][b, :n].float().cpu().numpy()
                        )
        offsets = [s // shift for s in starts]
        out: HeadOutput = {}
        for kind, arrays in chunks.items():
            if kind == "activity" and self.diar_mode == "eend":
                arrays = link_slots(arrays, offsets)
            stitched = torch.from_numpy(stitch_frames(arrays, offsets))
            out[kind] = stitched[None]
            out[FRAME_KINDS[kind]] = torch.tensor([stitched.shape[0]])
        return out

    def postprocess(self, out: HeadOutput, duration: float, name: str = "input") -> EchoResult:
        """Apply the policy (see the class docstring) to one recording's outputs.

        Args:
            out: The standard entries of the heads' outputs for a batch of one
                (``activity``/``activity_lengths``, ``sources``/``source_energy_db``,
                ``tokens``/``token_lengths``; ``speaker_frames``/
                ``speaker_frames_lengths`` in ``vbx`` mode).
            duration: Recording length in seconds (turns are clipped to it).
            name: The recording, for error messages.

        Returns:
            EchoResult.

        Raises:
            ValueError: ``vbx`` mode without ``speaker_frames``, or see
                :meth:`blind_diarize`.
        """
        speakers: Dict[str, List[int]] = {}  # output kind -> slots counted as speakers
        active = texts = energy = None
        if "activity" in out:
            n = int(out["activity_lengths"][0])
            active = self._activity(out["activity"][0, :n])
            if self.diar_mode == "vbx":
                active = self.blind_diarize(out, active, name).activity
                speakers["activity"] = list(range(active.shape[1]))
            else:
                min_frames = self.min_speaker_sec / self.frame_sec
                speakers["activity"] = [
                    s for s in range(active.shape[1]) if active[:, s].sum() >= min_frames
                ]
        if "sources" in out:
            energy = out["source_energy_db"][0].cpu().numpy()
            speakers["sources"] = [
                s for s in range(len(energy)) if energy[s] > self.sep_null_db
            ]
        if "tokens" in out:
            texts = [
                self._detokenize(out["tokens"][0, s, : int(length)].tolist())
                for s, length in enumerate(out["token_lengths"][0])
            ]
            speakers["tokens"] = [s for s, t in enumerate(texts) if t]
        counted = next((k for k in COUNT_ORDER if k in speakers), None)
        result = EchoResult(num_spk=0 if counted is None else len(speakers[counted]))
        if active is not None:
            result.segments = self._segments(active, speakers["activity"], duration)
        if energy is not None:
            loudest = np.argsort(-energy, kind="stable")[: result.num_spk]
            result.sources = out["sources"][0].cpu().numpy()[sorted(loudest)]
        if texts is not None:
            result.texts = [texts[s] for s in speakers["tokens"]]
        return result

    def blind_diarize(
        self, out: HeadOutput, active: np.ndarray, name: str = "input"
    ) -> BlindDiarResult:
        """The ``vbx`` pipeline on one recording's outputs.

        Args:
            out: Outputs with ``speaker_frames``/``speaker_frames_lengths`` (1, T, E).
            active: Thresholded, median-filtered EEND activity (T, S) (speech, count).
            name: The recording, for error messages.

        Returns:
            :class:`~espnet_echo.inference.blind_diar.BlindDiarResult`.

        Raises:
            ValueError: no ``speaker_frames``; see
                :func:`~espnet_echo.inference.blind_diar.blind_diarize`.
        """
        if "speaker_frames" not in out:
            raise ValueError(f"{name}: diar_mode 'vbx' needs the 'speaker_frames' output")
        head = self.model.heads[self.spk_task]
        t = active.shape[0]
        frames = out["speaker_frames"][0, : min(t, int(out["speaker_frames_lengths"][0]))]
        if frames.shape[0] != t:
            raise ValueError(
                f"{name}: {frames.shape[0]} speaker frames for {t} activity frames"
            )
        speech, count = speech_and_count(active)
        return blind_diarize(
            frames.to(self.device), speech, head.embed, self.plda, self.vbx,
            window=max(1, int(round(head.window_s / self.frame_sec))),
            hop=max(1, int(round(head.hop_s / self.frame_sec))),
            count=count, min_speech_share=self.min_speech_share, name=name,
            **self.count_bounds,
        )

    def _activity(self, probs: torch.Tensor) -> np.ndarray:
        """Thresholded, median-filtered activity (T, S) int8 of posteriors (T, S)."""
        from scipy.ndimage import median_filter

        active = (probs > self.diar_threshold).cpu().numpy().astype(np.int8)
        if self.median_frames > 1:
            active = median_filter(active, size=(self.median_frames, 1), mode="nearest")
        return active

    def _segments(
        self, active: np.ndarray, slots: List[int], duration: float
    ) -> List[Tuple[float, float, int]]:
        """Turns of the given slots; speaker k is ``slots[k]``.

        The last encoder frame may cover padding, so turns are clipped to ``duration``.
        """
        segments = []
        for spk, s in enumerate(slots):
            col = np.concatenate([[0], active[:, s], [0]])
            edges = np.flatnonzero(np.diff(col))
            for start, end in zip(edges[::2], edges[1::2]):
                end_sec = min(end * self.frame_sec, duration)
                if start * self.frame_sec < end_sec:
                    segments.append((start * self.frame_sec, end_sec, spk))
        segments.sort()
        return segments

    def _detokenize(self, ids: List[int]) -> str:
        tokens = self.converter.ids2tokens([i for i in ids if i > 0])
        tokens = [t for t in tokens if t not in ("<unk>", "<sos/eos>", "<blank>")]
        return self.tokenizer.tokens2text(tokens).strip()

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Speech2Echo: diarize, separate and transcribe one recording with a trained Echo model."""

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import soundfile
import torch
from espnet2.text.build_tokenizer import build_tokenizer
from espnet2.text.token_id_converter import TokenIDConverter
from typeguard import typechecked

from espnet_echo import registry
from espnet_echo.cluster.plda import PLDA
from espnet_echo.cluster.vbx import VBx, resolve_num_speakers
from espnet_echo.heads.abs_head import HeadOutput
from espnet_echo.inference.attribution import (
    exclusive_activity,
    frame_envelope,
    match_slots,
    tokens_to_words,
    words_in,
)
from espnet_echo.inference.blind_diar import BlindDiarResult, blind_diarize, speech_and_count
from espnet_echo.inference.chunking import (
    FrameStitcher,
    OverlapAdd,
    chunk_starts,
    link_to_previous,
    owned_ranges,
)
from espnet_echo.inference.precision import (
    autocast,
    check_quantize,
    fp32_islands,
    keep_fp32,
    outputs_to_float32,
    quantize_linear,
    resolve_dtype,
)
from espnet_echo.inference.result import EchoResult, Word
from espnet_echo.tasks.echo import EchoTask
from espnet_echo.utils.archive import check_archive
from espnet_echo.utils.checkpoint import load_state_dict
from espnet_echo.utils.fileio import file_digest
from espnet_echo.utils.memory import trim_heap

registry.register()

#: Output kinds that count speakers, in order of precedence (see Speech2Echo).
COUNT_ORDER = ("activity", "sources", "tokens")
DIAR_MODES = ("eend", "vbx")


def build_model(train_config: Union[Path, str], device: str = "cpu"):
    """Build an ESPnetEchoModel (initial weights) from its training config.

    The files the config names (GlobalMVN statistics, BPE model, token list) are
    looked up next to the model first, so a model runs from any directory
    (:func:`espnet_echo.inference.model_files.resolved_train_config`).

    Args:
        train_config: ``config.yaml`` written by training.
        device: Torch device.

    Returns:
        ``(model, args)``.

    Raises:
        ValueError: a file the config names cannot be found (the message names the
            config, the key and every place tried).
    """
    from espnet_echo.inference.model_files import resolved_train_config

    with resolved_train_config(train_config) as config:
        return EchoTask.build_model_from_file(config, None, device)


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
        CheckpointError: ``model_file`` is missing, empty, corrupt or not a state dict
            (:func:`espnet_echo.utils.checkpoint.load_state_dict`; a ValueError).
    """
    model, args = build_model(train_config, device)
    state = load_state_dict(model_file, map_location=device)
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise RuntimeError(
            f"{model_file} does not match {train_config}: missing keys "
            f"{result.missing_keys[:5]}, unexpected keys {result.unexpected_keys[:5]}"
        )
    return model.eval(), args


class Speech2Echo:
    """Run a trained ESPnetEchoModel on single recordings: one coherent result.

    **Passes.** A recording of at most ``chunk_s`` goes through the encoder in one pass
    (``ESPnetEchoModel.infer``) with the heads of ``tasks``. A longer one is read and
    cut into chunks of ``chunk_s`` every ``chunk_hop_s`` (``chunk_batch`` chunks per
    forward), every head running on every chunk, so memory is bounded by the chunk, not
    the recording (:mod:`espnet_echo.inference.chunking`): frame-level outputs are
    stitched as they come, each frame from the chunk where it is most central, EEND
    slots linked to the previous chunk's by PIT over the shared frames; separated
    slots are spilled to a temporary dir; token hypotheses are kept per chunk.

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
    2. **Exclusive turns** (at most one speaker per frame, for transcript
       alignment): in overlap, the speaker of the highest EEND posterior (``eend``)
       or the speaker of the nearest window centre (``vbx``, step 4 of blind_diar).
    3. **Attribution** (:mod:`espnet_echo.inference.attribution`): in every chunk, the
       separation slots (by their RMS envelope) and the ASR slots (by their non-blank
       CTC posterior) are matched one to one to the speakers active in the chunk by
       activity overlap. Without an activity output (one chunk only), the speakers
       are the counted separation (or ASR) slots, and the other head is matched to
       their activity.
    4. **Tracks**: speaker ``k``'s track is, per chunk, its matched slot (silence
       where it has none) scaled to its least-squares share of the chunk's mixture
       (:func:`mixture_gain`: SI-SNR training leaves a slot's level and sign
       arbitrary), overlap-added across chunks with triangular crossfades
       (:class:`~espnet_echo.inference.chunking.OverlapAdd`). With
       ``solo_passthrough`` (the default), a chunk in which the diarization finds
       exactly one speaker gives that speaker the chunk's mixture instead of a
       separated slot: nothing needs separating there, and a separation head that is
       not perfect only distorts a lone talker (measured: README, "Learning faster").
    5. **Words**: speaker ``k``'s words are those of its matched ASR slot, with times
       (CTC frames), each word kept from the chunk owning its onset frame (the
       nearest-centre rule of the frames); its text is its words joined by spaces.

    So speaker ``k`` of the turns, the track and the words is one person.

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
        solo_passthrough: In a chunk with exactly one active speaker, that speaker's
            track is the chunk's mixture, not its separated slot (step 4; default on,
            False gives the slot as before).

    Raises:
        RuntimeError: the checkpoint does not match the config.
        ValueError: a bad option (``dtype bfloat16`` on a device without bf16
            support, ``quantize int8`` with bf16 or off CPU); ``vbx`` without a
            diarization (activity) head, a speaker head or ``plda_file``, or with a
            PLDA whose dimension is not the head's ``embed_dim`` (naming the file);
            an unknown task; ``fs`` other than the rate the model was trained at
            (``frontend_conf: fs`` of the config).
        DataFileError: an unreadable PLDA file (naming it); a missing, empty, corrupt
            or non-state-dict ``model_file`` (``CheckpointError``, naming it).
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
        solo_passthrough: bool = True,
    ):
        if diar_mode not in DIAR_MODES:
            raise ValueError(f"diar_mode must be one of {DIAR_MODES}, got {diar_mode!r}")
        if chunk_batch < 1:
            raise ValueError(f"chunk_batch must be >= 1, got {chunk_batch}")
        #: Resolved precision: ``"float32"`` or ``"bfloat16"``.
        self.dtype = resolve_dtype(dtype, device)
        check_quantize(quantize, self.dtype, device)
        self.quantize = quantize
        self.solo_passthrough = solo_passthrough
        model, args = load_model(train_config, model_file, device)
        if self.dtype == "bfloat16":
            for obj, method in fp32_islands(model):
                keep_fp32(obj, method, torch.device(device).type)
        #: Encoder parameters, counted before quantisation (a dynamically quantised
        #: linear keeps its weights packed, not as parameters).
        self.encoder_params = sum(p.numel() for p in model.encoder.parameters())
        if quantize == "int8":
            quantize_linear(model)
        model_fs = (getattr(args, "frontend_conf", None) or {}).get("fs")
        if model_fs is None:  # the default frontend's own rate (its mel filterbank's)
            logmel = getattr(getattr(model, "frontend", None), "logmel", None)
            model_fs = getattr(logmel, "mel_options", {}).get("sr")
        if model_fs is not None:
            from humanfriendly import parse_size

            model_fs = int(parse_size(str(model_fs)))
            if model_fs != fs:
                raise ValueError(
                    f"{train_config}: the model takes {model_fs} Hz audio (its frontend's "
                    f"fs), not fs={fs}; audio at other rates is resampled to fs"
                )
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
        #: Tasks run on every chunk, in the model's order.
        self.tasks = [t for t in known if t in selected]
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
        self._check_length(speech.size, name)
        return speech

    def _check_length(self, num_samples: int, name: str) -> None:
        if num_samples < self.min_samples:
            raise ValueError(
                f"{name}: {num_samples} samples is shorter than two encoder frames "
                f"({self.min_samples} samples)"
            )

    @property
    def min_samples(self) -> int:
        """The shortest recording the model takes (two encoder frames)."""
        return 2 * self.model.frame_shift

    def num_chunks(self, num_samples: int) -> int:
        """Encoder passes (chunks) a recording of ``num_samples`` takes."""
        if num_samples <= self.chunk_samples:
            return 1
        shift = self.model.frame_shift
        return len(chunk_starts(num_samples, self.chunk_samples,
                                self.chunk_hop_frames * shift, shift))

    @torch.inference_mode()
    def __call__(
        self,
        speech,
        name: str = "input",
        track_dir: Union[Path, str, None] = None,
        progress=None,
        tracks: bool = True,
    ) -> EchoResult:
        """Diarize, separate and transcribe one mono recording at ``fs``.

        Args:
            speech: Waveform (N,), or a reader with ``num_samples`` and
                ``read(start, stop) -> (n,) float32`` (e.g.
                :class:`espnet_echo.inference.audio_input.AudioFile`), read chunk by
                chunk so a long file is never loaded whole.
            name: Recording id (the result's ``name``; used in error messages).
            track_dir: Where a recording of more than one chunk writes its stitched
                tracks (``<name>_spk<k>.wav``, 16-bit WAV) instead of holding them
                (:attr:`EchoResult.source_files`); None keeps them in memory.
            progress: Optional tqdm-like object; ``update(1)`` after each chunk.
            tracks: Build the separated tracks (False: ``sources`` and
                ``source_files`` stay None; nothing is stitched or written).

        Returns:
            EchoResult, coherent per speaker. Silent input gives K̂=0 and nothing else.

        Raises:
            ValueError: invalid audio (see :meth:`check_input`); a recording longer
                than ``chunk_s`` with a model without a diarization head; in ``vbx``
                mode, speaker counts the recording cannot satisfy or NaN speaker
                frames (naming ``name``).
        """
        if hasattr(speech, "read") and hasattr(speech, "num_samples"):
            source = speech
            self._check_length(int(source.num_samples), name)
        else:
            array = self.check_input(speech, name)
            if not np.any(array):
                return self._empty_result(name, len(array))
            source = _ArraySource(array)
        num_samples = int(source.num_samples)
        if num_samples > self.chunk_samples and not self.has_diarization:
            raise ValueError(
                f"{name}: {num_samples / self.fs:.1f} s is longer than chunk_s "
                f"({self.chunk_samples / self.fs} s); linking speakers across chunks "
                "needs a diarization head, which this model lacks: raise chunk_s"
            )
        with tempfile.TemporaryDirectory(prefix="echo-chunks-") as spill:
            run = self._run_chunks(source, name, Path(spill), progress)
            if run is None:  # every sample zero
                return self._empty_result(name, num_samples)
            return self._build_result(run, name, track_dir, tracks)

    def _empty_result(self, name: str, num_samples: int) -> EchoResult:
        """The result of a silent recording: no speaker, every output empty."""
        kinds = self.output_kinds
        return EchoResult(
            num_spk=0, name=name, duration=num_samples / self.fs, fs=self.fs,
            exclusive_segments=[] if "activity" in kinds else None,
            texts=[] if "tokens" in kinds else None,
            words=[] if "tokens" in kinds else None,
        )

    def _infer(
        self, x: torch.Tensor, x_lens: torch.Tensor, options: Dict
    ) -> Dict[str, HeadOutput]:
        """``model.infer`` in ``self.dtype``; floating outputs are float32."""
        with autocast(self.dtype, self.device):
            outputs = self.model.infer(x, x_lens, options)
        return outputs_to_float32(outputs) if self.dtype != "float32" else outputs

    def _run_chunks(self, source, name: str, spill: Path, progress=None) -> Optional["_Pass"]:
        """One encoder pass per chunk with every head of ``self.tasks``.

        A recording of at most ``chunk_s`` is one chunk. Chunks of a longer one go
        ``chunk_batch`` at a time (the last, shorter one alone, so no chunk is padded
        and results do not depend on ``chunk_batch``). Frame outputs are stitched as
        they come (:class:`~espnet_echo.inference.chunking.FrameStitcher`; EEND slots
        linked to the previous chunk's first); separated slots of a recording of
        several chunks are spilled to ``spill`` (float16) until the speakers are known.

        Returns:
            The collected outputs, or None when every sample is zero.
        """
        n = int(source.num_samples)
        shift = self.model.frame_shift
        starts = ([0] if n <= self.chunk_samples else
                  chunk_starts(n, self.chunk_samples, self.chunk_hop_frames * shift, shift))
        run = _Pass(starts=starts, num_samples=n, spill=spill if len(starts) > 1 else None)
        options = dict(self.options, tasks=self.tasks)
        max_frames = n // shift + 2
        stitchers = {"activity": FrameStitcher(max_frames),
                     "speaker_frames": FrameStitcher(max_frames, np.float16)}
        full = len(starts) - (n - starts[-1] < self.chunk_samples)
        groups = [starts[i:min(i + self.chunk_batch, full)]
                  for i in range(0, full, self.chunk_batch)] + [starts[full:]]
        prev_act = None
        nonzero = False
        for group in filter(None, groups):
            part = [np.asarray(source.read(s, min(s + self.chunk_samples, n)), np.float32)
                    for s in group]
            nonzero = nonzero or any(np.any(p) for p in part)
            x = torch.from_numpy(np.stack(part))
            x_lens = torch.full((len(part),), x.shape[1])
            outputs = self._infer(x.to(self.device), x_lens.to(self.device), options)
            flat = {k: v for task, o in outputs.items() if task in self.tasks
                    for k, v in o.items()}
            for b, start in enumerate(group):
                offset = start // shift
                if "activity" in flat:
                    act = flat["activity"][b, : int(flat["activity_lengths"][b])]
                    act = act.float().cpu().numpy()
                    if self.diar_mode == "eend" and prev_act is not None:
                        act = link_to_previous(prev_act[1], prev_act[0], act, offset)
                    prev_act = (offset, act)
                    stitchers["activity"].add(offset, act)
                    run.lengths.append(len(act))
                if "speaker_frames" in flat:
                    sf = flat["speaker_frames"][b, : int(flat["speaker_frames_lengths"][b])]
                    stitchers["speaker_frames"].add(offset, sf.float().cpu().numpy())
                run.collect(b, flat, len(part[b]), shift, self.frame_sec)
            if len(starts) > 1:
                trim_heap()  # heap fragmentation otherwise grows with the recording
            if progress is not None:
                progress.update(len(group))
        if not nonzero:
            return None
        for kind, st in stitchers.items():
            if st.pending is not None:
                setattr(run, kind, st.finish())
        return run

    # ---------------------------------------------------------------- the policy
    def postprocess(self, out: HeadOutput, duration: float, name: str = "input") -> EchoResult:
        """Apply the policy (class docstring) to the outputs of one pass over a whole
        recording (a batch of one).

        Args:
            out: The standard entries of the heads' outputs (``activity``/
                ``activity_lengths``, ``sources``/``source_energy_db``, ``tokens``/
                ``token_lengths``/``token_frames``/``token_activity``;
                ``speaker_frames``/``speaker_frames_lengths`` in ``vbx`` mode).
            duration: Recording length in seconds (turns are clipped to it).
            name: The recording, for error messages.

        Returns:
            EchoResult.
        """
        shift = self.model.frame_shift
        n = int(round(duration * self.fs))
        run = _Pass(starts=[0], num_samples=n, spill=None)
        if "activity" in out:
            t = int(out["activity_lengths"][0])
            run.activity = out["activity"][0, :t].float().cpu().numpy()
            run.lengths.append(t)
        if "speaker_frames" in out:
            t = int(out["speaker_frames_lengths"][0])
            run.speaker_frames = out["speaker_frames"][0, :t].float().cpu().numpy()
        run.collect(0, out, n, shift, self.frame_sec)
        return self._build_result(run, name, None)

    def _speakers(self, run: "_Pass", name: str):
        """Speaker count, activity (T, K) 0/1 and exclusive activity of a recording.

        Returns:
            ``(activity, exclusive, counted)``. Without an activity output the
            speakers are the counted separation (or ASR) slots of the one chunk:
            ``activity`` is theirs (envelopes relative to their peak, or non-blank
            posteriors), ``exclusive`` is None and ``counted`` is ``(kind, slots)``
            (speaker ``k`` is slot ``slots[k]`` of that head); else ``counted`` is
            None.
        """
        if run.activity is not None:
            probs = run.activity
            active = self._activity(torch.from_numpy(probs))
            if self.diar_mode == "vbx":
                t = active.shape[0]
                blind = self.blind_diarize(
                    {"speaker_frames": torch.from_numpy(run.speaker_frames[:t])[None],
                     "speaker_frames_lengths": torch.tensor([t])}
                    if run.speaker_frames is not None else {}, active, name)
                act = blind.activity
                excl = np.zeros_like(act)
                rows = np.flatnonzero(blind.primary >= 0)
                excl[rows, blind.primary[rows]] = 1
                return act, excl, None
            min_frames = self.min_speaker_sec / self.frame_sec
            slots = [s for s in range(active.shape[1]) if active[:, s].sum() >= min_frames]
            act = active[:, slots]
            return act, exclusive_activity(act, probs[:, slots]), None
        if run.source_energy:
            energy = run.source_energy[0]
            slots = [s for s in range(len(energy)) if energy[s] > self.sep_null_db]
            env = run.source_env[0]
            # the envelope relative to its peak: a counted slot's activity
            act = env[:, slots] / np.maximum(env[:, slots].max(0, keepdims=True), 1e-9)
            return act, None, ("sources", slots)
        if run.tokens:
            slots = [s for s, (ids, _) in enumerate(run.tokens[0]) if ids]
            return run.token_activity[0][:, slots], None, ("tokens", slots)
        return np.zeros((0, 0)), None, None

    def _build_result(self, run: "_Pass", name: str, track_dir,
                      tracks: bool = True) -> EchoResult:
        """Speakers, then every slot of every chunk matched to them (attribution)."""
        duration = run.num_samples / self.fs
        spk_act, excl, counted = self._speakers(run, name)
        k_hat = spk_act.shape[1]
        result = EchoResult(num_spk=k_hat, name=name, duration=duration, fs=self.fs)
        if run.activity is not None:
            result.segments = self._segments(spk_act, list(range(k_hat)), duration)
            result.exclusive_segments = self._segments(excl, list(range(k_hat)), duration)
        shift = self.model.frame_shift
        offsets = [s // shift for s in run.starts]

        def window(i: int, t: int) -> np.ndarray:
            part = spk_act[offsets[i]:offsets[i] + t]
            if len(part) < t:  # the speaker activity ends before the chunk's frames
                part = np.concatenate([part, np.zeros((t - len(part), k_hat))])
            return part

        def slots_of(kind: str, i: int, slot_activity: np.ndarray) -> np.ndarray:
            if counted is not None and counted[0] == kind:  # the speakers are its slots
                return np.asarray(counted[1], dtype=np.int64)
            return match_slots(slot_activity, window(i, len(slot_activity)))

        def solo_of(i: int) -> int:
            """The one speaker active in chunk ``i`` (-1: none or several)."""
            if not self.solo_passthrough:
                return -1
            talking = np.flatnonzero(window(i, len(run.source_env[i])).any(axis=0))
            return int(talking[0]) if len(talking) == 1 else -1

        if run.source_env and k_hat and tracks:
            self._stitch_tracks(run, result, slots_of, solo_of, track_dir)
        if run.tokens:
            lengths = [len(a) for a in run.token_activity]
            owned = owned_ranges(offsets, lengths)
            words: List[List[Word]] = [[] for _ in range(k_hat)]
            for i, (hyps, tok_act) in enumerate(zip(run.tokens, run.token_activity)):
                if not k_hat:
                    break
                slot_of = slots_of("tokens", i, tok_act)
                begin_s, end_s = (owned[i][0] * self.frame_sec, owned[i][1] * self.frame_sec)
                for k, s in enumerate(slot_of):
                    if s < 0:
                        continue
                    ids, frames = hyps[s]
                    w = self._words(ids, frames, offsets[i] * self.frame_sec)
                    words[k] += words_in(w, begin_s, None if i + 1 == len(owned) else end_s)
            result.words = words
            result.texts = [" ".join(w.text for w in ws) for ws in words]
        return result

    def _stitch_tracks(self, run: "_Pass", result: EchoResult, slots_of, solo_of,
                       track_dir) -> None:
        """Each speaker's separated track: per chunk the matched slot (or, for the lone
        speaker of a chunk under ``solo_passthrough``, the chunk's mixture), overlap-added."""
        k_hat = result.num_spk
        files, blocks = None, []
        if run.spill is not None and track_dir is not None:
            Path(track_dir).mkdir(parents=True, exist_ok=True)
            files = [Path(track_dir) / f"{result.name}_spk{k}.wav" for k in range(k_hat)]
            writers = [soundfile.SoundFile(f, "w", self.fs, 1, subtype="PCM_16")
                       for f in files]

            def sink(block):
                for wr, row in zip(writers, block):
                    wr.write(np.clip(row, -1.0, 1.0))
        else:
            writers = []
            sink = blocks.append
        ola = OverlapAdd(k_hat, run.num_samples, sink)
        try:
            for i, start in enumerate(run.starts):
                slot_of = slots_of("sources", i, run.source_env[i])
                src = run.sources(i)
                tracks = np.zeros((k_hat, src.shape[1]), dtype=np.float32)
                mix = run.mixture(i)
                solo = solo_of(i) if mix is not None else -1
                if solo >= 0:
                    tracks[solo] = mix
                else:
                    for k, s in enumerate(slot_of):
                        if s >= 0:
                            tracks[k] = src[s] if mix is None else mixture_gain(src[s], mix)
                ola.add(start, tracks)
            ola.close()
        finally:
            for wr in writers:
                wr.close()
        if files is not None:
            result.source_files = files
        else:
            result.sources = np.concatenate(blocks, axis=1) if blocks else None

    def _words(self, ids: List[int], frames: List[int], offset_s: float) -> List[Word]:
        """Words with times of one slot's hypothesis (special tokens dropped)."""
        tokens = self.converter.ids2tokens(ids) if ids else []
        keep = [i for i, t in enumerate(tokens) if t not in _SPECIAL_TOKENS]
        return tokens_to_words(
            [tokens[i] for i in keep], [frames[i] for i in keep], self.args.token_type,
            self.tokenizer.tokens2text, self.frame_sec, offset_s,
        )

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


#: Tokens that are not text.
_SPECIAL_TOKENS = ("<unk>", "<sos/eos>", "<blank>")


class _ArraySource:
    """An in-memory recording with the reading interface of an audio file."""

    def __init__(self, speech: np.ndarray):
        self.speech = speech
        self.num_samples = len(speech)

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.speech[start:stop]


@dataclass
class _Pass:
    """What one pass over a recording's chunks collected (Speech2Echo internals).

    Attributes:
        starts: Sample offset of each chunk.
        num_samples: Recording length N.
        spill: Dir holding the separated slots of each chunk (float16 ``.npy``), or
            None to hold them in memory (one chunk).
        lengths: Activity frames of each chunk.
        activity: Stitched (linked, for ``eend``) activity posteriors (T, S), or None.
        speaker_frames: Stitched speaker frames (T, E) float16, or None.
        source_env / source_energy: Per chunk, slot envelopes (T_i, S) and energies
            (S,) dB re. the mixture.
        held_sources / held_mixtures: Per chunk, the slots (S, n_i) and the mixture
            (n_i,) the separation head saw, when they are not spilled.
        tokens: Per chunk, per slot ``(ids, frames)``.
        token_activity: Per chunk, the slots' token activity (T_i, S).
    """

    starts: List[int]
    num_samples: int
    spill: Optional[Path]
    lengths: List[int] = field(default_factory=list)
    activity: Optional[np.ndarray] = None
    speaker_frames: Optional[np.ndarray] = None
    source_env: List[np.ndarray] = field(default_factory=list)
    source_energy: List[np.ndarray] = field(default_factory=list)
    held_sources: List[np.ndarray] = field(default_factory=list)
    held_mixtures: List[np.ndarray] = field(default_factory=list)
    tokens: List[List[Tuple[List[int], List[int]]]] = field(default_factory=list)
    token_activity: List[np.ndarray] = field(default_factory=list)

    def collect(self, b: int, flat: HeadOutput, num_samples: int, shift: int,
                frame_sec: float) -> None:
        """Keep item ``b`` of a batch's outputs (the next chunk) of ``num_samples``."""
        i = max(len(self.source_env), len(self.tokens))
        t = self.lengths[i] if len(self.lengths) > i else num_samples // shift
        if "sources" in flat:
            src = flat["sources"][b, :, :num_samples].float().cpu().numpy()
            mix = (flat["mixture"][b, :num_samples].float().cpu().numpy()
                   if "mixture" in flat else None)
            self.source_env.append(frame_envelope(src, shift, t))
            self.source_energy.append(flat["source_energy_db"][b].float().cpu().numpy())
            if self.spill is not None:
                np.save(self.spill / f"{i}.npy", src.astype(np.float16))
                if mix is not None:
                    np.save(self.spill / f"{i}_mix.npy", mix.astype(np.float16))
            else:
                self.held_sources.append(src)
                self.held_mixtures.append(mix)
        if "tokens" in flat:
            hyps = []
            for s, n in enumerate(flat["token_lengths"][b].tolist()):
                hyps.append((flat["tokens"][b, s, :n].tolist(),
                             flat["token_frames"][b, s, :n].tolist()))
            self.tokens.append(hyps)
            self.token_activity.append(
                flat["token_activity"][b, :t].float().cpu().numpy())

    def sources(self, i: int) -> np.ndarray:
        """The separated slots (S, n_i) of chunk ``i``."""
        if self.spill is None:
            return self.held_sources[i]
        return np.load(self.spill / f"{i}.npy").astype(np.float32)

    def mixture(self, i: int) -> Optional[np.ndarray]:
        """The mixture (n_i,) of chunk ``i`` as the separation head saw it (None: the
        head did not return it)."""
        if self.spill is None:
            return self.held_mixtures[i]
        path = self.spill / f"{i}_mix.npy"
        return np.load(path).astype(np.float32) if path.is_file() else None


def mixture_gain(slot: np.ndarray, mixture: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """A separated slot scaled to its share of the mixture (least-squares gain and sign).

    SI-SNR training leaves a slot's level and sign arbitrary (a slot at -17 dB, or
    inverted, scores the same), so tracks stitched from several chunks, or from slots and
    the passed-through mixture of one-speaker chunks, would jump in level and cancel in
    the crossfades. The slot is scaled by ``<mixture, slot> / <slot, slot>``, the gain
    that best explains the mixture with it: for a slot proportional to one source of a
    mixture of uncorrelated sources this restores the source's level and sign (the usual
    rescaling of scale-invariant separation outputs; SI-SDR is unchanged).

    Args:
        slot: One slot's waveform (N,).
        mixture: The chunk's mixture (N,).
        eps: A slot with less energy than this is returned as it is.

    Returns:
        The scaled slot (N,) float32.
    """
    energy = float(np.dot(slot, slot))
    if energy < eps:
        return slot
    return (slot * (float(np.dot(mixture, slot)) / energy)).astype(np.float32)


def speech2echo_from_files(files, options: Dict) -> Speech2Echo:
    """A :class:`Speech2Echo` for a located model (``echo_infer``).

    Args:
        files: :class:`espnet_echo.inference.model_files.ModelFiles`.
        options: Speech2Echo keyword arguments (other keys are ignored).
            ``diar_mode`` None picks ``vbx`` when the model has a speaker head and a
            PLDA (``plda_file``, else the model's own), else ``eend``.

    Returns:
        The model, ready.

    Raises:
        ValueError: bad options, or ``vbx`` without a PLDA.
    """
    import inspect

    import yaml

    names = set(inspect.signature(Speech2Echo.__init__).parameters) - {"self"}
    kwargs = {k: v for k, v in options.items() if k in names}
    plda = kwargs.get("plda_file") or files.plda_file
    if kwargs.get("diar_mode") is None:
        with open(files.train_config, encoding="utf-8") as f:
            conf = yaml.safe_load(f) or {}
        has_spk = conf.get("spk_head") not in (None, "none")
        kwargs["diar_mode"] = "vbx" if has_spk and plda is not None else "eend"
    if kwargs["diar_mode"] == "vbx":
        kwargs["plda_file"] = plda
    try:
        return Speech2Echo(files.train_config, files.model_file, **kwargs)
    except RuntimeError as e:
        raise ValueError(f"{files.model_file}: cannot be loaded with "
                         f"{files.train_config}: {e}") from None

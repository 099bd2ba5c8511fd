# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Speech2Echo: diarize, separate and transcribe one recording with a trained Echo model."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from espnet2.text.build_tokenizer import build_tokenizer
from espnet2.text.token_id_converter import TokenIDConverter
from typeguard import typechecked

from espnet_echo import registry
from espnet_echo.heads.abs_head import HeadOutput
from espnet_echo.tasks.echo import EchoTask
from espnet_echo.utils.archive import check_archive

registry.register()

#: Output kinds that count speakers, in order of precedence (see Speech2Echo).
COUNT_ORDER = ("activity", "sources", "tokens")


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

    One encoder pass per recording (``ESPnetEchoModel.infer``), then one
    post-processing policy over the heads' standard outputs
    (``espnet_echo.heads.abs_head.OUTPUT_KINDS``), whatever heads produced them:

    1. **Speaker count K̂**, from the first output present in this order:

       * ``activity`` (diarization): a slot is a speaker when its posterior,
         thresholded at ``diar_threshold`` and median-filtered over
         ``median_frames``, is active at least ``min_speaker_sec``;
       * ``sources`` (separation): a slot is a speaker when its energy relative to
         the mixture is above ``sep_null_db``;
       * ``tokens`` (ASR): a slot is a speaker when its transcript is not empty.

       Activity comes first because it is the only output trained with absent
       speakers as explicit all-zero targets over time; a separation slot's energy
       and an ASR slot's emptiness are the fallbacks when no diarization head exists.
    2. **Segments**: the turns of the counted activity slots, speakers numbered
       0..K̂-1 in slot order.
    3. **Sources**: the K̂ loudest separation slots, in slot order (without an
       activity output these are exactly the slots above ``sep_null_db``).
    4. **Texts**: the non-empty transcripts in slot order (not cut to K̂).

    Speaker ``k`` of the segments, of the sources and of the texts are not yet
    linked to each other (each follows its own head's slot order).

    Args:
        train_config: ``config.yaml`` written by training.
        model_file: Checkpoint (``*.pth``); loaded with ``weights_only=True`` and checked
            for missing/unexpected keys (ESPnet itself loads with ``strict=False``).
        device: Torch device.
        fs: Sample rate the model expects.
        diar_threshold: Activity threshold on the diarization posteriors.
        min_speaker_sec: A slot is a speaker if it is active at least this long.
        median_frames: Median filter width (encoder frames) on activity, odd.
        sep_null_db: Separation slots quieter than this (dB re. the mixture) are null.
        beam_size: ASR beam (1 = greedy CTC).
        ctc_weight: CTC weight in joint beam search.

    Raises:
        RuntimeError: the checkpoint does not match the config.
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
    ):
        model, args = EchoTask.build_model_from_file(train_config, None, device)
        state = torch.load(model_file, map_location=device, weights_only=True)
        result = model.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise RuntimeError(
                f"{model_file} does not match {train_config}: missing keys "
                f"{result.missing_keys[:5]}, unexpected keys {result.unexpected_keys[:5]}"
            )
        self.model = model.eval()
        self.args = args
        self.device = device
        self.fs = fs
        self.diar_threshold = diar_threshold
        self.min_speaker_sec = min_speaker_sec
        self.median_frames = median_frames
        self.sep_null_db = sep_null_db
        #: Decoding options handed to ``model.infer`` (each head reads its own keys).
        self.options = dict(beam_size=beam_size, ctc_weight=ctc_weight)
        self.output_kinds = model.output_kinds
        self.tokenizer = self.converter = None
        if "tokens" in self.output_kinds:
            self.tokenizer = build_tokenizer(
                token_type=args.token_type, bpemodel=args.bpemodel
            )
            self.converter = TokenIDConverter(token_list=args.token_list)

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
            EchoResult. Silent input gives K̂=0, no segments, no sources, no texts.

        Raises:
            ValueError: invalid audio (see :meth:`check_input`).
        """
        speech = self.check_input(speech, name)
        if not np.any(speech):
            return EchoResult(num_spk=0, segments=[], sources=None, texts=None)
        x = torch.from_numpy(speech)[None].to(self.device)
        x_lens = torch.tensor([x.shape[1]], device=self.device)
        outputs = self.model.infer(x, x_lens, self.options)
        return self.postprocess(
            {k: v for out in outputs.values() for k, v in out.items()},
            duration=len(speech) / self.fs,
        )

    def postprocess(self, out: HeadOutput, duration: float) -> EchoResult:
        """Apply the policy (see the class docstring) to one recording's outputs.

        Args:
            out: The standard entries of the heads' outputs for a batch of one
                (``activity``/``activity_lengths``, ``sources``/``source_energy_db``,
                ``tokens``/``token_lengths``).
            duration: Recording length in seconds (turns are clipped to it).

        Returns:
            EchoResult.
        """
        speakers: Dict[str, List[int]] = {}  # output kind -> slots counted as speakers
        active = texts = energy = None
        if "activity" in out:
            n = int(out["activity_lengths"][0])
            active = self._activity(out["activity"][0, :n])
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

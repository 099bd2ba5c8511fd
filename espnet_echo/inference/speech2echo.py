# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Speech2Echo: diarize, separate and transcribe one recording with a trained Echo model."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple, Union

import numpy as np
import torch
from espnet2.text.build_tokenizer import build_tokenizer
from espnet2.text.token_id_converter import TokenIDConverter
from typeguard import typechecked

from espnet_echo import registry
from espnet_echo.tasks.echo import EchoTask
from espnet_echo.utils.archive import check_archive

registry.register()


@dataclass
class EchoResult:
    """What Speech2Echo returns for one recording.

    Attributes:
        num_spk: Estimated number of speakers K̂.
        segments: Speaker turns ``(start_s, end_s, speaker_index)``, speaker_index < K̂.
        sources: Separated waveforms (K̂_sep, N) or None without a separation head.
        texts: One transcript per recognised speaker, or None without an ASR head.
    """

    num_spk: int
    segments: List[Tuple[float, float, int]] = field(default_factory=list)
    sources: Optional[np.ndarray] = None
    texts: Optional[List[str]] = None


class Speech2Echo:
    """Run a trained ESPnetEchoModel on single recordings.

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
        self.beam_size = beam_size
        self.ctc_weight = ctc_weight
        self.tokenizer = self.converter = None
        if "asr" in model.heads:
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
        return self.model.frame_shift / self.fs

    def check_input(self, speech: np.ndarray, name: str = "input") -> np.ndarray:
        """Validate a waveform: 1-D (or (N, 1)), finite, at least one encoder frame."""
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
        """Diarize, separate and transcribe one mono 16 kHz recording.

        Args:
            speech: Waveform (N,).
            name: Used in error messages.

        Returns:
            EchoResult. Silent input gives K̂=0, no segments, no sources, no texts.
        """
        speech = self.check_input(speech, name)
        if not np.any(speech):
            return EchoResult(num_spk=0, segments=[], sources=None, texts=None)
        x = torch.from_numpy(speech)[None].to(self.device)
        x_lens = torch.tensor([x.shape[1]], device=self.device)
        last, hs, lens = self.model.encode(x, x_lens)
        heads = self.model.heads
        result = EchoResult(num_spk=0)
        if "diar" in heads:
            probs = heads["diar"].inference(self.model.fuse("diar", last, hs), lens)[0]
            result.segments, result.num_spk = self._segments(
                probs[: int(lens[0])], len(speech) / self.fs
            )
        if "sep" in heads:
            est, energy_db = heads["sep"].separate(
                self.model.fuse("sep", last, hs), lens, x, x_lens, return_energy=True
            )
            result.sources = self._select_sources(
                est[0].cpu().numpy(), energy_db[0].cpu().numpy(), result.num_spk
            )
            if "diar" not in heads:
                result.num_spk = len(result.sources)
        if "asr" in heads:
            hyps = heads["asr"].recognize(
                self.model.fuse("asr", last, hs), lens, beam_size=self.beam_size,
                ctc_weight=self.ctc_weight, greedy=self.beam_size == 1,
            )
            texts = [self._detokenize(h) for h in hyps]
            result.texts = [t for t in texts if t]
            if "diar" not in heads and "sep" not in heads:
                result.num_spk = len(result.texts)
        return result

    def _segments(
        self, probs: torch.Tensor, duration: float
    ) -> Tuple[List[Tuple[float, float, int]], int]:
        """Threshold + median-filter slot posteriors (T, S) into turns; count speakers.

        The last encoder frame may cover padding, so turns are clipped to ``duration``.
        """
        from scipy.ndimage import median_filter

        active = (probs > self.diar_threshold).cpu().numpy().astype(np.int8)
        if self.median_frames > 1:
            active = median_filter(active, size=(self.median_frames, 1), mode="nearest")
        min_frames = self.min_speaker_sec / self.frame_sec
        slots = [s for s in range(active.shape[1]) if active[:, s].sum() >= min_frames]
        segments = []
        for spk, s in enumerate(slots):
            col = np.concatenate([[0], active[:, s], [0]])
            edges = np.flatnonzero(np.diff(col))
            for start, end in zip(edges[::2], edges[1::2]):
                end_sec = min(end * self.frame_sec, duration)
                if start * self.frame_sec < end_sec:
                    segments.append((start * self.frame_sec, end_sec, spk))
        segments.sort()
        return segments, len(slots)

    def _select_sources(
        self, est: np.ndarray, energy_db: np.ndarray, num_spk: int
    ) -> np.ndarray:
        """Keep non-null separation slots (S, N); the K̂ loudest if diarization ran."""
        order = np.argsort(-energy_db)
        keep = [i for i in order if energy_db[i] > self.sep_null_db]
        if "diar" in self.model.heads:
            keep = list(order[:num_spk])
        return est[sorted(keep)]

    def _detokenize(self, ids: List[int]) -> str:
        tokens = self.converter.ids2tokens([i for i in ids if i > 0])
        tokens = [t for t in tokens if t not in ("<unk>", "<sos/eos>", "<blank>")]
        return self.tokenizer.tokens2text(tokens).strip()

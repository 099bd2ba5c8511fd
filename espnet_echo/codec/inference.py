# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Encode audio to token files and decode token files to 16 kHz WAV with a trained codec.

Library side of ``espnet_echo.bin.codec_encode`` / ``codec_decode``.

Token directory (written by :func:`encode_to_dir`)::

    <out>/header.json      {"header": TokenFileHeader.to_dict(), "codec": meta_info}
    <out>/npy/<key>.npy    int16/int32 tokens (T_c, G) of one utterance
    <out>/tokens.jsonl     line 1: the content of header.json; then one line per utterance
                           {"key", "num_samples", "num_frames", "npy", "tokens": [[...], ...]}

``tokens.jsonl`` is what an LM pipeline reads (frame rate, FSQ levels, grouping and
vocabulary sizes in line 1; a frame is a list of G tokens, token g in ``[0, V_g)``). Every
file is written atomically (temporary file then ``os.replace``,
:func:`espnet_echo.utils.fileio.atomic_open`); encoding and decoding are resumable: an
utterance whose ``.npy`` / ``.wav`` exists is not redone (a ``header.json`` of another
codec in ``<out>`` is an error).

Bad input (each tested in ``test/espnet_echo/codec/test_inference.py``):
    * empty audio (0 samples): :class:`espnet_echo.utils.audio.AudioError` naming the file;
    * silent (all-zero) audio: encoded like any audio (documented result: valid tokens; the
      DAAM gate's variance floor keeps it finite), decoded to near-silence;
    * audio shorter than one codec frame (``samples_per_frame``, 1,280 samples at 12.5 Hz,
      6,400 at 2.5 Hz): zero-padded to one frame, so >= 1 frame of tokens; decoding crops
      to ``num_samples``;
    * tokens outside the vocabulary, wrong shape or a header whose frame rate/levels/groups
      differ from the codec: :class:`CodecInputError` / ``TokenHeaderError`` naming the file;
    * a checkpoint that does not fit the config (another codec config):
      :class:`CodecModelError` naming both files.
"""

import json
import logging
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import soundfile
import torch
import yaml

from espnet_echo.codec.jepa_fsq import CodecInputError, JEPAFSQCodec
from espnet_echo.codec.packing import TokenFileHeader, TokenHeaderError
from espnet_echo.data.scp import load_entry
from espnet_echo.utils.audio import load_audio
from espnet_echo.utils.fileio import DataFileError, atomic_open, atomic_path, read_kaldi_map

PathLike = Union[str, Path]
HEADER_FILE = "header.json"
TOKENS_FILE = "tokens.jsonl"


class CodecModelError(ValueError):
    """A codec config/checkpoint pair cannot be loaded; the message names the files."""


class CodecRunner:
    """A trained :class:`JEPAFSQCodec` in eval mode, with numpy in/out.

    Args:
        codec: The codec.
        device: Torch device.
    """

    def __init__(self, codec: JEPAFSQCodec, device: str = "cpu"):
        self.codec = codec.to(device).eval()
        self.device = device
        self.generator = codec.generator
        self.header = self.generator.header()
        self.fs = codec.fs

    @classmethod
    def from_files(
        cls, config: PathLike, model_file: PathLike, device: str = "cpu"
    ) -> "CodecRunner":
        """Build the codec of an ESPnet ``config.yaml`` and load a checkpoint into it.

        Args:
            config: ``exp/<codec>/config.yaml`` written by ``codec_train``.
            model_file: A model state dict (``N epoch.pth``, ``valid.*.pth``), loaded
                with ``torch.load(..., weights_only=True)``.
            device: Torch device.

        Raises:
            CodecModelError: Missing files, a config that is not a ``jepa_fsq`` codec, or
                a checkpoint whose parameters do not fit the config (e.g. trained with
                another frame rate, levels or sizes).
        """
        from espnet_echo import registry
        from espnet2.tasks.gan_codec import GANCodecTask

        registry.register()
        config, model_file = Path(config), Path(model_file)
        for f in (config, model_file):
            if not f.is_file():
                raise CodecModelError(f"{f}: file not found")
        with open(config, encoding="utf-8") as f:
            conf = yaml.safe_load(f)
        if not isinstance(conf, dict) or conf.get("codec") != "jepa_fsq":
            raise CodecModelError(
                f"{config}: not a jepa_fsq codec config (codec: "
                f"{conf.get('codec') if isinstance(conf, dict) else None!r})"
            )
        model, _ = GANCodecTask.build_model_from_file(config, None, device)
        try:
            state = torch.load(model_file, map_location=device, weights_only=True)
        except Exception as e:  # unpickling errors of a corrupt/non-torch file
            raise CodecModelError(f"{model_file}: cannot read checkpoint ({e})") from e
        if not isinstance(state, dict):
            raise CodecModelError(f"{model_file}: not a model state dict")
        spec_key = "codec.generator.spec"
        expected = model.codec.generator.spec_tensor()
        if spec_key not in state:
            raise CodecModelError(
                f"{model_file}: not a jepa_fsq codec checkpoint (no {spec_key})"
            )
        got = state[spec_key].to(torch.float64).cpu()
        if got.shape != expected.shape or not torch.allclose(got, expected):
            raise CodecModelError(
                f"{model_file}: checkpoint does not match the codec of {config} (trained with "
                f"another config?): [fs, frame_rate_hz, num_groups, *group_levels] is "
                f"{got.tolist()} in the checkpoint, {expected.tolist()} in the config"
            )
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            first = str(e).strip().splitlines()
            detail = "; ".join(line.strip() for line in first[1:4]) or first[0]
            raise CodecModelError(
                f"{model_file}: checkpoint does not match the codec of {config} "
                f"(trained with another config?): {detail}"
            ) from None
        return cls(model.codec, device)

    @torch.no_grad()
    def encode(self, wav: np.ndarray, name: str = "audio") -> np.ndarray:
        """Tokens (T_c, G) int64 of a float waveform (N,) at ``fs``.

        Raises:
            CodecInputError: An empty or non-1-D waveform, naming ``name``.
        """
        wav = np.asarray(wav, dtype=np.float32)
        if wav.ndim != 1 or wav.size == 0:
            raise CodecInputError(
                f"{name}: expected a non-empty waveform, got shape {wav.shape}"
            )
        x = torch.from_numpy(wav).to(self.device)[None]
        return self.generator.encode(x)[0].cpu().numpy()

    @torch.no_grad()
    def decode(
        self, tokens: np.ndarray, num_samples: Optional[int] = None, name: str = "tokens"
    ) -> np.ndarray:
        """Waveform (N,) float32 of tokens (T_c, G), cropped to ``num_samples`` if given.

        Raises:
            CodecInputError: Wrong shape or tokens outside the vocabulary, naming ``name``.
        """
        tokens = np.asarray(tokens)
        if tokens.dtype.kind not in "iu":
            raise CodecInputError(f"{name}: tokens must be integers, got {tokens.dtype}")
        t = torch.from_numpy(tokens.astype(np.int64)).to(self.device)[None]
        self.generator.check_tokens(t, source=name)
        wav = self.generator.decode(t)[0, 0].cpu().numpy()
        if num_samples is not None:
            wav = wav[:num_samples]
        return wav


def header_record(runner: CodecRunner) -> Dict:
    """Line 1 of ``tokens.jsonl`` and the content of ``header.json``."""
    return {"header": runner.header.to_dict(), "codec": runner.codec.meta_info()}


def _token_dtype(runner: CodecRunner):
    return np.int16 if max(runner.generator.packer.vocab_sizes) <= 2**15 else np.int32


def read_inputs(inputs: Sequence[str]) -> List[Tuple[str, str, str]]:
    """``(key, entry, where)`` of audio files or ``wav.scp`` files (``*.scp``).

    Raises:
        DataFileError: A malformed scp (naming ``file:line``) or a duplicate key.
    """
    out, seen = [], set()
    for item in inputs:
        p = Path(item)
        if p.suffix == ".scp":
            for lineno, (key, value) in enumerate(read_kaldi_map(p).items(), 1):
                out.append((key, value, f"{p}:{lineno}"))
        else:
            out.append((p.stem, str(p), str(p)))
    for key, _, where in out:
        if key in seen:
            raise DataFileError(f"{where}: duplicate utterance key {key!r}")
        seen.add(key)
    return out


def _load(entry: str, where: str, fs: int, resample: bool) -> np.ndarray:
    if where == entry:  # a plain audio file
        return load_audio(entry, fs=fs, resample=resample)
    return load_entry(entry, where, fs, resample=resample)


def _check_header_file(path: Path, runner: CodecRunner) -> None:
    with open(path, encoding="utf-8") as f:
        try:
            d = json.load(f)
        except json.JSONDecodeError as e:
            raise TokenHeaderError(f"{path}: not JSON ({e})") from None
    if not isinstance(d, dict) or "header" not in d:
        raise TokenHeaderError(f"{path}: no 'header' object")
    TokenFileHeader.from_dict(d["header"], source=str(path)).check(
        runner.header, source=str(path)
    )


def encode_to_dir(
    runner: CodecRunner,
    inputs: Sequence[str],
    out_dir: PathLike,
    resample: bool = False,
) -> Path:
    """Encode audio files / wav.scp entries into a token directory (module docstring).

    Args:
        runner: The codec.
        inputs: Audio files and/or ``.scp`` files.
        out_dir: Output directory; an existing one of the same codec is resumed.
        resample: Resample audio at another rate (with a warning) instead of failing.

    Returns:
        Path: ``<out_dir>/tokens.jsonl``.

    Raises:
        AudioError, DataFileError: Bad audio or scp, naming the file (and line).
        TokenHeaderError: ``out_dir`` holds tokens of another codec.
    """
    out_dir = Path(out_dir)
    records = read_inputs(inputs)
    head = header_record(runner)
    header_file = out_dir / HEADER_FILE
    if header_file.exists():
        _check_header_file(header_file, runner)
    else:
        with atomic_open(header_file) as f:
            json.dump(head, f, indent=1)
    dtype = _token_dtype(runner)
    lines = [json.dumps(head)]
    done = 0
    for key, entry, where in records:
        npy = out_dir / "npy" / f"{key}.npy"
        if npy.exists():
            tokens = np.load(npy)
            meta = json.loads(npy.with_suffix(".json").read_text())
            num_samples = int(meta["num_samples"])
        else:
            wav = _load(entry, where, runner.fs, resample)
            tokens = runner.encode(wav, name=where).astype(dtype)
            num_samples = int(wav.size)
            with atomic_open(npy.with_suffix(".json")) as f:
                json.dump({"num_samples": num_samples}, f)
            with atomic_open(npy, "wb") as f:
                np.save(f, tokens)
            done += 1
        lines.append(
            json.dumps(
                {
                    "key": key,
                    "num_samples": num_samples,
                    "num_frames": int(tokens.shape[0]),
                    "npy": f"npy/{key}.npy",
                    "tokens": tokens.tolist(),
                }
            )
        )
    logging.info(
        "encoded %d utterances (%d resumed) into %s", done, len(records) - done, out_dir
    )
    out = out_dir / TOKENS_FILE
    with atomic_open(out) as f:
        f.write("\n".join(lines) + "\n")
    return out


def read_token_file(
    path: PathLike, expected: Optional[TokenFileHeader] = None
) -> Tuple[TokenFileHeader, List[Dict]]:
    """Read a ``tokens.jsonl``: its header and the utterance records (tokens as arrays).

    Args:
        path: The file.
        expected: If given, the header must match it (:meth:`TokenFileHeader.check`).

    Returns:
        ``(header, [{"key", "num_samples", "tokens": (T_c, G) int64}, ...])``.

    Raises:
        TokenHeaderError: Missing/malformed header or one that differs from ``expected``.
        DataFileError: A malformed line, naming ``file:line``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    if not lines:
        raise TokenHeaderError(f"{path}: empty token file (no header line)")
    try:
        first = json.loads(lines[0])
    except json.JSONDecodeError as e:
        raise TokenHeaderError(f"{path}:1: header line is not JSON ({e})") from None
    if not isinstance(first, dict) or "header" not in first:
        raise TokenHeaderError(f"{path}:1: the first line must hold a 'header' object")
    header = TokenFileHeader.from_dict(first["header"], source=f"{path}:1")
    if expected is not None:
        header.check(expected, source=str(path))
    records = []
    for lineno, line in enumerate(lines[1:], 2):
        where = f"{path}:{lineno}"
        try:
            rec = json.loads(line)
            key = rec["key"]
            tokens = np.asarray(rec["tokens"])
            num_samples = rec.get("num_samples")
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise DataFileError(f"{where}: malformed token record ({e})") from None
        if tokens.ndim != 2 or tokens.shape[1] != header.packer.tokens_per_frame:
            raise DataFileError(
                f"{where}: tokens of {key!r} must be (T, {header.packer.tokens_per_frame}), "
                f"got shape {tokens.shape}"
            )
        if tokens.size and tokens.dtype.kind not in "iu":
            raise DataFileError(f"{where}: tokens of {key!r} are not integers")
        records.append(
            {"key": key, "num_samples": num_samples, "tokens": tokens.astype(np.int64),
             "where": where}
        )
    return header, records


def decode_to_dir(runner: CodecRunner, token_file: PathLike, out_dir: PathLike) -> Path:
    """Decode a ``tokens.jsonl`` into ``<out_dir>/wav/<key>.wav`` (16-bit) and ``wav.scp``.

    Resumable: existing WAVs are kept. Returns the ``wav.scp`` path.

    Raises:
        TokenHeaderError: The header does not match the codec (naming the file).
        CodecInputError: Tokens outside the vocabulary (naming ``file:line`` and the key).
    """
    out_dir = Path(out_dir)
    _, records = read_token_file(token_file, expected=runner.header)
    scp = {}
    for rec in records:
        wav_path = out_dir / "wav" / f"{rec['key']}.wav"
        if not wav_path.exists():
            wav = runner.decode(
                rec["tokens"], rec["num_samples"], name=f"{rec['where']} ({rec['key']})"
            )
            with atomic_path(wav_path) as tmp:
                soundfile.write(str(tmp), np.clip(wav, -1.0, 1.0), runner.fs, subtype="PCM_16")
        scp[rec["key"]] = str(wav_path.resolve())
    out = out_dir / "wav.scp"
    with atomic_open(out) as f:
        for key, path in scp.items():
            f.write(f"{key} {path}\n")
    return out

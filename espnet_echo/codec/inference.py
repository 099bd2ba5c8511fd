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
:func:`espnet_echo.utils.fileio.atomic_open`).

Resuming: encoding and decoding into an existing output dir keep only what provably came
from the same run setup. ``<out>/.stamp.json`` records the codec (``--model_file`` and
``--config`` with their SHA-256) and, per utterance, what its output came from: for
``codec_encode`` the input entry plus the file's size and mtime (a pipe entry ``cmd |`` by
its text only), for ``codec_decode`` the digest of its token record (and the token file's
digest). Then

    * another checkpoint or config than the stamp's is refused (naming the dir and both
      checkpoints): tokens/audio of two codecs would be mixed; use a new ``--out_dir``;
    * an utterance whose input (audio entry / token record) changed is redone, the others
      are kept and logged as resumed;
    * an output dir without a stamp (written before stamps existed) is redone entirely;
    * a ``header.json`` of another codec in ``<out>`` is an error.

Keys name files (``npy/<key>.npy``, ``wav/<key>.wav``): a key that is not a plain file
name (``/``, ``\\``, a leading ``.``, control characters;
:data:`espnet_echo.utils.fileio.SAFE_NAME`) is refused naming ``file:line``, as are
duplicate keys.

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
      :class:`CodecModelError` naming both files;
    * a training config (``conf/train_codec.yaml``) instead of the ``config.yaml``
      ``codec_train`` wrote: :class:`CodecModelError` saying to pass
      ``exp/<dir>/config.yaml``;
    * a token record whose ``tokens`` length differs from its ``num_frames``, or whose
      ``num_samples`` does not fit ``num_frames`` at the codec's frame rate:
      :class:`~espnet_echo.utils.fileio.DataFileError` naming ``file:line`` and the key;
    * audio at another sample rate: an error that says to pass ``--resample`` (a bare
      flag, no value).
"""

import hashlib
import json
import logging
import math
import os
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import soundfile
import torch
import yaml

from espnet_echo.codec.jepa_fsq import CodecInputError, JEPAFSQCodec
from espnet_echo.codec.packing import TokenFileHeader, TokenHeaderError
from espnet_echo.data.scp import load_entry
from espnet_echo.utils.audio import AudioError, load_audio
from espnet_echo.utils.checkpoint import CheckpointError, load_state_dict
from espnet_echo.utils.fileio import (
    SAFE_NAME,
    DataFileError,
    atomic_open,
    atomic_path,
    file_digest,
    read_kaldi_map,
    write_stamp,
)

PathLike = Union[str, Path]
HEADER_FILE = "header.json"
TOKENS_FILE = "tokens.jsonl"
#: What an output dir was made from (:func:`encode_to_dir`, :func:`decode_to_dir`).
STAMP = ".stamp.json"


class CodecModelError(ValueError):
    """A codec config/checkpoint pair cannot be loaded; the message names the files."""


class CodecRunner:
    """A trained :class:`JEPAFSQCodec` in eval mode, with numpy in/out.

    Args:
        codec: The codec.
        device: Torch device.
    """

    def __init__(
        self,
        codec: JEPAFSQCodec,
        device: str = "cpu",
        config_file: Optional[PathLike] = None,
        model_file: Optional[PathLike] = None,
    ):
        self.codec = codec.to(device).eval()
        self.device = device
        self.generator = codec.generator
        self.header = self.generator.header()
        self.fs = codec.fs
        self.config_file = None if config_file is None else Path(config_file).resolve()
        self.model_file = None if model_file is None else Path(model_file).resolve()
        self._stamp: Optional[Dict] = None

    def stamp(self) -> Dict:
        """What identifies this codec in an output dir's stamp: config and checkpoint
        paths and SHA-256 digests (of the parameters when not loaded from files)."""
        if self._stamp is None:
            if self.model_file is not None:
                model_digest = file_digest(self.model_file)
            else:
                h = hashlib.sha256()
                for name, t in sorted(self.codec.state_dict().items()):
                    h.update(name.encode())
                    h.update(t.detach().cpu().numpy().tobytes())
                model_digest = h.hexdigest()
            if self.config_file is not None:
                config_digest = file_digest(self.config_file)
            else:
                config_digest = hashlib.sha256(
                    json.dumps(self.codec.meta_info(), sort_keys=True).encode()
                ).hexdigest()
            self._stamp = {
                "model_file": None if self.model_file is None else str(self.model_file),
                "model_digest": model_digest,
                "config_file": None if self.config_file is None else str(self.config_file),
                "config_digest": config_digest,
            }
        return dict(self._stamp)

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
            CodecModelError: Missing files, a config that is not a ``jepa_fsq`` codec, a
                training config instead of ``codec_train``'s output ``config.yaml``, or
                a checkpoint that is not a readable state dict (empty, corrupt, not
                written by ``torch.save``) or whose parameters do not fit the config
                (e.g. trained with another frame rate, levels or sizes).
        """
        from espnet_echo import registry
        from espnet2.tasks.gan_codec import GANCodecTask

        registry.register()
        config, model_file = Path(config), Path(model_file)
        for f in (config, model_file):
            if f.is_dir():
                raise CodecModelError(f"{f}: is a directory, expected a file")
            if not f.is_file():
                raise CodecModelError(f"{f}: file not found")
        with open(config, encoding="utf-8") as f:
            try:
                conf = yaml.safe_load(f)
            except yaml.YAMLError as e:
                raise CodecModelError(f"{config}: not YAML ({e})") from None
        if not isinstance(conf, dict) or conf.get("codec") != "jepa_fsq":
            raise CodecModelError(
                f"{config}: not a jepa_fsq codec config (codec: "
                f"{conf.get('codec') if isinstance(conf, dict) else None!r})"
            )
        # codec_train (ESPnet's GANCodecTask) writes every task option into the
        # config.yaml of its exp dir; a training config holds only what its author set
        if "model_conf" not in conf:
            raise CodecModelError(
                f"{config}: not a codec_train output config (no model_conf: a training "
                "config?): pass the exp/<dir>/config.yaml that codec_train wrote"
            )
        model, _ = GANCodecTask.build_model_from_file(config, None, device)
        try:
            state = load_state_dict(model_file, map_location=device)
        except CheckpointError as e:  # empty, corrupt, non-torch file or not a dict
            raise CodecModelError(str(e)) from e
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
        return cls(model.codec, device, config_file=config, model_file=model_file)

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
        if p.is_dir():
            raise DataFileError(
                f"{p}: is a directory; pass audio files or a wav.scp (*.scp)"
            )
        if p.suffix == ".scp":
            for lineno, (key, value) in enumerate(read_kaldi_map(p).items(), 1):
                out.append((key, value, f"{p}:{lineno}"))
        else:
            out.append((p.stem, str(p), str(p)))
    for key, _, where in out:
        check_key(key, where)
        if key in seen:
            raise DataFileError(f"{where}: duplicate utterance key {key!r}")
        seen.add(key)
    return out


def check_key(key: str, where: str) -> None:
    """Refuse an utterance key that is not a plain file name (it names output files).

    Raises:
        DataFileError: ``key`` does not match :data:`espnet_echo.utils.fileio.SAFE_NAME`
            (``/``, ``\\``, leading ``.``, control characters) or holds whitespace
            (a ``wav.scp`` key cannot), naming ``where``.
    """
    if not isinstance(key, str) or not SAFE_NAME.fullmatch(key):
        raise DataFileError(
            f"{where}: utterance key {key!r} is not a plain file name (no '/', '\\', "
            "control characters or leading '.'): it names an output file; rename the key"
        )
    if any(c.isspace() for c in key):
        raise DataFileError(
            f"{where}: utterance key {key!r} contains whitespace, which the wav.scp that "
            "codec_decode writes cannot hold; rename the key"
        )


def check_out_dir(out_dir: PathLike) -> Path:
    """``out_dir`` as a Path; refuse one that exists and is not a directory."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir}: exists and is not a directory (--out_dir)")
    return out_dir


def _read_stamp(out_dir: Path) -> Optional[Dict]:
    try:
        with open(out_dir / STAMP, encoding="utf-8") as f:
            old = json.load(f)
    except (OSError, ValueError):
        return None
    return old if isinstance(old, dict) else None


def _check_same_codec(out_dir: Path, old: Optional[Dict], new: Dict) -> None:
    """Refuse to resume an output dir that another checkpoint or config produced."""
    if old is None:
        return
    for what, flag in (("model", "--model_file"), ("config", "--config")):
        if old.get(f"{what}_digest") != new[f"{what}_digest"]:
            raise CodecModelError(
                f"{out_dir}: was written with {what} {old.get(f'{what}_file')} (sha256 "
                f"{str(old.get(f'{what}_digest'))[:12]}), not with {flag} "
                f"{new[f'{what}_file']} (sha256 {new[f'{what}_digest'][:12]}); resuming "
                "would mix the outputs of two codecs: pass a new --out_dir (or remove "
                "this one)"
            )


def _input_stamp(entry: str) -> Dict:
    """What an encoded utterance came from: the entry and, where it names a file (a plain
    path or ``<ark>:<offset>``), that file's size and mtime."""
    out: Dict = {"entry": entry}
    text = entry.strip()
    for cand in (text, text.rsplit(":", 1)[0] if ":" in text else None):
        if cand and os.path.isfile(cand):
            st = os.stat(cand)
            out.update(size=st.st_size, mtime_ns=st.st_mtime_ns)
            break
    return out


def _load(entry: str, where: str, fs: int, resample: bool) -> np.ndarray:
    try:
        if where == entry:  # a plain audio file
            return load_audio(entry, fs=fs, resample=resample)
        return load_entry(entry, where, fs, resample=resample)
    except AudioError as e:
        if resample or "sample rate" not in str(e):
            raise
        raise AudioError(
            f"{e}; pass --resample (a bare flag, no value) to resample it to {fs} Hz"
        ) from None


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
        out_dir: Output directory; an existing one of the same codec (checkpoint and
            config, by digest) is resumed: utterances whose input changed are re-encoded.
        resample: Resample audio at another rate (with a warning) instead of failing.

    Returns:
        Path: ``<out_dir>/tokens.jsonl``.

    Raises:
        AudioError, DataFileError: Bad audio or scp, or an unsafe/duplicate key, naming
            the file (and line).
        TokenHeaderError: ``out_dir`` holds tokens of another codec.
        CodecModelError: ``out_dir`` was written with another checkpoint or config.
        FileExistsError: ``out_dir`` exists and is not a directory.
    """
    out_dir = check_out_dir(out_dir)
    records = read_inputs(inputs)
    head = header_record(runner)
    header_file = out_dir / HEADER_FILE
    if header_file.exists():
        _check_header_file(header_file, runner)
    old = _read_stamp(out_dir)
    codec_stamp = runner.stamp()
    _check_same_codec(out_dir, old, codec_stamp)
    # drop the outputs of utterances whose input changed (or that no stamp vouches for)
    # before the new stamp is written: every existing .npy then matches the stamp
    utts = dict(old.get("utts", {})) if old else {}
    changed = 0
    for key, entry, _ in records:
        current = _input_stamp(entry)
        npy = out_dir / "npy" / f"{key}.npy"
        if utts.get(key) != current:
            if npy.exists() or npy.with_suffix(".json").exists():
                changed += 1
            for f in (npy, npy.with_suffix(".json")):
                f.unlink(missing_ok=True)
        utts[key] = current
    out_dir.mkdir(parents=True, exist_ok=True)
    if not header_file.exists():
        with atomic_open(header_file) as f:
            json.dump(head, f, indent=1)
    write_stamp(out_dir, dict(codec_stamp, tool="codec_encode", utts=utts), STAMP)
    dtype = _token_dtype(runner)
    lines = [json.dumps(head)]
    done = 0
    for key, entry, where in records:
        npy = out_dir / "npy" / f"{key}.npy"
        meta_file = npy.with_suffix(".json")
        if npy.exists() and meta_file.exists():
            tokens = np.load(npy)
            meta = json.loads(meta_file.read_text())
            num_samples = int(meta["num_samples"])
        else:
            wav = _load(entry, where, runner.fs, resample)
            tokens = runner.encode(wav, name=where).astype(dtype)
            num_samples = int(wav.size)
            # the .json last: an .npy without it (a killed run) is redone
            with atomic_open(npy, "wb") as f:
                np.save(f, tokens)
            with atomic_open(meta_file) as f:
                json.dump({"num_samples": num_samples}, f)
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
        "encoded %d utterances (%d resumed; %d redone as their input changed or no stamp "
        "vouched for them) into %s", done, len(records) - done, changed, out_dir
    )
    out = out_dir / TOKENS_FILE
    with atomic_open(out) as f:
        f.write("\n".join(lines) + "\n")
    return out


def read_token_file(
    path: PathLike,
    expected: Optional[TokenFileHeader] = None,
    samples_per_frame: Optional[int] = None,
) -> Tuple[TokenFileHeader, List[Dict]]:
    """Read a ``tokens.jsonl``: its header and the utterance records (tokens as arrays).

    Args:
        path: The file.
        expected: If given, the header must match it (:meth:`TokenFileHeader.check`).
        samples_per_frame: If given, a record's ``num_samples`` must fit its frames:
            ``(T_c - 1) * samples_per_frame < num_samples <= T_c * samples_per_frame``
            (what the encoder's zero padding to whole frames gives).

    Returns:
        ``(header, [{"key", "num_samples", "tokens": (T_c, G) int64, "where"}, ...])``.

    Raises:
        TokenHeaderError: Missing/malformed header or one that differs from ``expected``.
        DataFileError: A malformed line, a key that is not a plain file name, a duplicate
            key, ``tokens`` whose length differs from ``num_frames`` or a ``num_samples``
            that does not fit them; naming ``file:line`` (and the key).
    """
    path = Path(path)
    if path.is_dir():
        raise DataFileError(
            f"{path}: is a directory; pass the tokens.jsonl file in it (--tokens)"
        )
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
    records, seen = [], {}
    for lineno, line in enumerate(lines[1:], 2):
        where = f"{path}:{lineno}"
        try:
            rec = json.loads(line)
            key = rec["key"]
            tokens = np.asarray(rec["tokens"])
            num_samples = rec.get("num_samples")
            num_frames = rec.get("num_frames")
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise DataFileError(f"{where}: malformed token record ({e})") from None
        check_key(key, where)
        if key in seen:
            raise DataFileError(f"{where}: duplicate key {key!r} (first at line {seen[key]})")
        seen[key] = lineno
        if tokens.ndim != 2 or tokens.shape[1] != header.packer.tokens_per_frame:
            raise DataFileError(
                f"{where}: tokens of {key!r} must be (T, {header.packer.tokens_per_frame}), "
                f"got shape {tokens.shape}"
            )
        if tokens.size and tokens.dtype.kind not in "iu":
            raise DataFileError(f"{where}: tokens of {key!r} are not integers")
        for name, value in (("num_frames", num_frames), ("num_samples", num_samples)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise DataFileError(f"{where}: {name} of {key!r} must be a positive "
                                    f"integer, got {value!r}")
        if num_frames is not None and num_frames != tokens.shape[0]:
            raise DataFileError(
                f"{where}: {key!r} has {tokens.shape[0]} token frames but num_frames "
                f"{num_frames} (a truncated or edited record?)"
            )
        if samples_per_frame is not None and num_samples is not None:
            t = tokens.shape[0]
            if not (t - 1) * samples_per_frame < num_samples <= t * samples_per_frame:
                need = max(1, math.ceil(num_samples / samples_per_frame))
                raise DataFileError(
                    f"{where}: {key!r} has num_samples {num_samples}, which needs {need} "
                    f"frames of {samples_per_frame} samples at {header.frame_rate_hz:g} Hz, "
                    f"but {t} token frames"
                )
        records.append(
            {"key": key, "num_samples": num_samples, "tokens": tokens.astype(np.int64),
             "where": where}
        )
    return header, records


def _record_digest(rec: Dict) -> str:
    h = hashlib.sha256(json.dumps([rec["num_samples"], list(rec["tokens"].shape)]).encode())
    h.update(np.ascontiguousarray(rec["tokens"], dtype=np.int64).tobytes())
    return h.hexdigest()


def decode_to_dir(runner: CodecRunner, token_file: PathLike, out_dir: PathLike) -> Path:
    """Decode a ``tokens.jsonl`` into ``<out_dir>/wav/<key>.wav`` (16-bit) and ``wav.scp``.

    Resumable (module docstring): a WAV is kept when the stamp shows it was decoded by the
    same checkpoint and config from the same token record; a changed record is decoded
    again; another checkpoint or config is refused. Logs how many were resumed.
    Returns the ``wav.scp`` path.

    Raises:
        TokenHeaderError: The header does not match the codec (naming the file).
        CodecInputError: Tokens outside the vocabulary (naming ``file:line`` and the key).
        DataFileError: A bad record (:func:`read_token_file`) or ``token_file`` is a dir.
        CodecModelError: ``out_dir`` was written with another checkpoint or config.
        FileExistsError: ``out_dir`` exists and is not a directory.
    """
    out_dir = check_out_dir(out_dir)
    _, records = read_token_file(
        token_file, expected=runner.header,
        samples_per_frame=int(runner.generator.samples_per_frame),
    )
    old = _read_stamp(out_dir)
    codec_stamp = runner.stamp()
    _check_same_codec(out_dir, old, codec_stamp)
    utts = dict(old.get("utts", {})) if old else {}
    changed = 0
    for rec in records:
        digest = _record_digest(rec)
        wav_path = out_dir / "wav" / f"{rec['key']}.wav"
        if utts.get(rec["key"]) != digest:
            if wav_path.exists():
                changed += 1
                wav_path.unlink()
        utts[rec["key"]] = digest
    out_dir.mkdir(parents=True, exist_ok=True)
    write_stamp(
        out_dir,
        dict(codec_stamp, tool="codec_decode", tokens_file=str(Path(token_file).resolve()),
             tokens_digest=file_digest(token_file), utts=utts),
        STAMP,
    )
    scp, done = {}, 0
    for rec in records:
        wav_path = out_dir / "wav" / f"{rec['key']}.wav"
        if not wav_path.exists():
            wav = runner.decode(
                rec["tokens"], rec["num_samples"], name=f"{rec['where']} ({rec['key']})"
            )
            with atomic_path(wav_path) as tmp:
                soundfile.write(str(tmp), np.clip(wav, -1.0, 1.0), runner.fs, subtype="PCM_16")
            done += 1
        scp[rec["key"]] = str(wav_path.resolve())
    logging.info(
        "decoded %d utterances (%d resumed; %d redone as their token record changed or no "
        "stamp vouched for them) into %s", done, len(records) - done, changed, out_dir
    )
    out = out_dir / "wav.scp"
    with atomic_open(out) as f:
        for key, path in scp.items():
            f.write(f"{key} {path}\n")
    return out

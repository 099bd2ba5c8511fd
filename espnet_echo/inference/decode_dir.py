# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Decode a data dir into a hypothesis dir (``espnet_echo.bin.echo_inference``).

The data dir is read by the one data-dir reader
(:func:`espnet_echo.data.datadir.load_data_dir`), so its ``wav.scp`` may hold paths with
spaces, ``cmd |`` pipes and ``file.ark:offset`` entries, and a dir with Kaldi
``segments`` is decoded segment by segment: each segment is one utterance of the
hypothesis dir (its id is the segment id, its times are in segment time), cut as ESPnet
cuts it (:meth:`~espnet_echo.data.datadir.DataDir.read_audio`).
"""

import argparse
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Dict, Optional, Union

import soundfile

from espnet_echo.data.datadir import DataDir
from espnet_echo.data.scp import entry_stamp
from espnet_echo.inference.precision import resolve_dtype
from espnet_echo.inference.speech2echo import Speech2Echo
from espnet_echo.utils.fileio import (
    atomic_open,
    file_digest,
    stamp_is_current,
    staged_dir,
    write_kaldi_map,
    write_stamp,
)

#: Stamp file of a hypothesis dir (what decoded it: checkpoint, config, audio, options).
STAMP = ".stamp.json"

#: Options that change the hypotheses (device and threads do not; ``chunk_batch`` does
#: not either, but is stamped too, so that a changed option always decodes again).
#: ``dtype`` is stamped as resolved (``auto`` -> ``float32`` or ``bfloat16``); ``dtype``,
#: ``quantize`` and ``solo_passthrough`` only when not at their values before the options
#: existed (:data:`OPTION_DEFAULTS`), so that the hypothesis dirs stamped then stay
#: current exactly when they would decode the same (``solo_passthrough`` is on by default
#: now, so those dirs are decoded again).
DECODING_OPTIONS = (
    "fs", "resample", "diar_threshold", "min_speaker_sec", "beam_size", "ctc_weight",
    "diar_mode", "num_speakers", "min_speakers", "max_speakers", "vbx_threshold",
    "loopP", "Fa", "Fb", "min_speech_share", "chunk_s", "chunk_hop_s", "chunk_batch",
    "tasks", "dtype", "quantize", "solo_passthrough",
)
#: The options of :class:`Speech2Echo` that ``echo_inference`` passes on by name.
SPEECH2ECHO_OPTIONS = (
    "device", "fs", "diar_threshold", "min_speaker_sec", "beam_size", "ctc_weight",
    "diar_mode", "plda_file", "num_speakers", "min_speakers", "max_speakers",
    "vbx_threshold", "loopP", "Fa", "Fb", "min_speech_share", "chunk_s", "chunk_hop_s",
    "chunk_batch", "tasks", "dtype", "quantize", "solo_passthrough",
)
#: Values of options before they existed: what a namespace of an older caller that lacks
#: them means, and what an older stamp that lacks them recorded.
OPTION_DEFAULTS = {"dtype": "float32", "quantize": "none", "solo_passthrough": False}
#: Where ``fit_plda`` writes the PLDA of a model, next to its checkpoint.
DEFAULT_PLDA = "plda.npz"


def resolve_plda_file(
    diar_mode: str, plda_file: Optional[str], model_file: Union[str, Path]
) -> Optional[str]:
    """The PLDA file of ``diar_mode: vbx``: the given one, else ``<model dir>/plda.npz``.

    Args:
        diar_mode: ``"eend"`` or ``"vbx"``.
        plda_file: ``--plda_file`` or None.
        model_file: The checkpoint; its directory holds the default PLDA.

    Returns:
        The file (None in ``eend`` mode without ``--plda_file``).

    Raises:
        ValueError: ``plda_file`` is not a file; ``vbx`` mode, no ``--plda_file`` and no
            default file (the message says how to fit one).
    """
    if plda_file is not None:
        if not Path(plda_file).is_file():
            raise ValueError(f"--plda_file {plda_file}: no such file")
        return plda_file
    if diar_mode != "vbx":
        return None
    default = Path(model_file).parent / DEFAULT_PLDA
    if not default.is_file():
        raise ValueError(
            f"--diar_mode vbx needs a PLDA: no --plda_file and no {default}; fit one with "
            f"python -m espnet_echo.bin.fit_plda --train_config ... --model_file "
            f"{model_file} --data_dir <train dump> --out {default}"
        )
    return str(default)


def speech2echo_kwargs(args: argparse.Namespace) -> Dict:
    """Keyword arguments of :class:`Speech2Echo` from ``echo_inference``'s options."""
    return {k: getattr(args, k, OPTION_DEFAULTS.get(k)) for k in SPEECH2ECHO_OPTIONS}


def inference_stamp(args: argparse.Namespace, ddir: DataDir) -> Dict:
    """What the hypotheses depend on: model, config, audio list and files, options.

    Args:
        args: The parsed options of ``echo_inference``.
        ddir: The data dir.

    Returns:
        The stamp (JSON-ready; with the PLDA's digest when ``args.plda_file`` is set, so
        resolve it first with :func:`resolve_plda_file`; ``dtype`` resolved by
        :func:`~espnet_echo.inference.precision.resolve_dtype`). A pipe entry has no
        knowable input, so its stamp differs on every run and a dir with pipes is
        always decoded again.

    Raises:
        ValueError: ``dtype bfloat16`` on a device without bf16 support.
    """
    audio = hashlib.sha256()
    for rec, entry in ddir.recordings.items():
        stamp = entry_stamp(entry)
        if stamp is None:  # a pipe: its input cannot be known
            stamp = f"pipe {time.time_ns()}"
        audio.update(f"{rec} {entry} {stamp}\n".encode())
    out = {
        "model_file": file_digest(args.model_file),
        "train_config": file_digest(args.train_config),
        "wav_scp": file_digest(ddir.path / "wav.scp"),
        "audio": audio.hexdigest(),
        "options": {
            k: getattr(args, k, OPTION_DEFAULTS.get(k)) for k in DECODING_OPTIONS
        },
    }
    options = out["options"]
    options["dtype"] = resolve_dtype(options["dtype"], getattr(args, "device", "cpu"))
    for k, default in OPTION_DEFAULTS.items():  # stamps from before these options
        if options[k] == default:  # stay current for the default (fp32) decodes
            del options[k]
    if ddir.segments is not None:
        out["segments"] = file_digest(ddir.path / "segments")
    if getattr(args, "plda_file", None) is not None:
        out["plda_file"] = file_digest(args.plda_file)
    return out


def decode(
    echo: Speech2Echo, ddir: DataDir, args: argparse.Namespace, tmp: Path, out: Path
) -> Dict:
    """Decode every utterance of ``ddir`` into ``tmp``; audio paths point into ``out``.

    Args:
        echo: The model.
        ddir: The data dir (utterances: segments with ``segments``, else recordings).
        args: Options (``fs``, ``resample``).
        tmp: Staging dir written now.
        out: Final hypothesis dir (``spk{n}.scp`` entries point under it).

    Returns:
        ``info.json`` content: ``rtf``, ``audio_sec``, ``encoder_params``, ``num_utts``,
        ``dtype`` (resolved) and ``quantize``.

    Raises:
        DataFileError, AudioError: a bad entry, segment or audio, naming ``file:line``.
    """
    (tmp / "wav").mkdir()
    rttm_lines, num_spk, scps, texts = [], {}, {}, {}
    audio_sec = proc_sec = 0.0
    for utt in ddir.utts:
        speech, _ = ddir.read_audio(utt, "mix", fs=args.fs, resample=args.resample)
        entry, where = ddir.audio_entry(utt)
        start = time.perf_counter()
        res = echo(speech, name=f"{where}: {entry}")
        proc_sec += time.perf_counter() - start
        audio_sec += len(speech) / args.fs
        num_spk[utt] = res.num_spk
        for beg, end, spk in res.segments:
            rttm_lines.append(
                f"SPEAKER {utt} 1 {beg:.3f} {end - beg:.3f} <NA> <NA> spk{spk + 1} <NA> <NA>"
            )
        for n, src in enumerate(res.sources if res.sources is not None else [], 1):
            name = Path("wav") / f"{utt}_spk{n}.wav"
            soundfile.write(tmp / name, src, args.fs, subtype="FLOAT")
            scps.setdefault(n, {})[utt] = str((out / name).resolve())
        for n, text in enumerate(res.texts or [], 1):
            texts.setdefault(n, {})[utt] = text
    if echo.has_diarization:
        with atomic_open(tmp / "rttm") as f:
            f.writelines(line + "\n" for line in rttm_lines)
    write_kaldi_map(tmp / "utt2num_spk", num_spk)
    for n, m in scps.items():
        write_kaldi_map(tmp / f"spk{n}.scp", m)
    for n, m in texts.items():
        write_kaldi_map(tmp / f"text_spk{n}", m)
    info = {
        "rtf": proc_sec / max(audio_sec, 1e-9),
        "audio_sec": audio_sec,
        "encoder_params": echo.encoder_params,
        "num_utts": len(ddir.utts),
        "dtype": echo.dtype,
        "quantize": echo.quantize,
    }
    with atomic_open(tmp / "info.json") as f:
        json.dump(info, f, indent=2)
    return info


def decode_data_dir(
    args: argparse.Namespace, ddir: DataDir, out: Union[Path, str]
) -> Optional[Dict]:
    """Decode ``ddir`` into ``out`` unless ``out``'s stamp says it is current.

    The one decode-if-needed step of ``echo_inference`` and the learning-curve tool:
    stamp check (:func:`inference_stamp`), threads, :class:`Speech2Echo`, :func:`decode`
    into a staged dir swapped in whole (:func:`espnet_echo.utils.fileio.staged_dir`),
    then the stamp.

    Args:
        args: ``echo_inference`` options (``train_config``, ``model_file``, the
            decoding options, ``num_threads``).
        ddir: The data dir.
        out: Hypothesis dir.

    Returns:
        ``info.json``'s content, or None when ``out`` was up to date (skipped).

    Raises:
        ValueError: the checkpoint does not match the config (names both) or a bad
            option.
        DataFileError, AudioError: bad data (named).
    """
    import torch

    out = Path(out)
    stamp = inference_stamp(args, ddir)
    if stamp_is_current(out, stamp, STAMP):
        logging.info(f"{out} is up to date; skipped (remove it to re-decode)")
        return None
    if getattr(args, "num_threads", 0) > 0:
        torch.set_num_threads(args.num_threads)
    try:
        echo = Speech2Echo(args.train_config, args.model_file, **speech2echo_kwargs(args))
    except RuntimeError as e:
        raise ValueError(
            f"{args.model_file}: cannot be decoded with {args.train_config}: {e}"
        ) from None
    with staged_dir(out, STAMP) as tmp:
        info = decode(echo, ddir, args, tmp, out)
    write_stamp(out, stamp, STAMP)
    logging.info(f"{len(ddir.utts)} utterances -> {out}; RTF {info['rtf']:.4f}")
    return info

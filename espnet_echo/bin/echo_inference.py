#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Run a trained Echo model over a data dir and write a hypothesis dir.

Writes (docs/CONTRACT.md): ``rttm``, ``utt2num_spk``, ``spk{n}.scp`` (+ ``wav/``),
``text_spk{n}`` and ``info.json`` (real-time factor, encoder parameters, audio seconds).

The hypothesis dir is built in a temporary dir and swapped in whole, so a failed run leaves
the previous one untouched and no file of an earlier run (say ``spk3.scp`` when the new
run finds at most two speakers) survives. A stamp ``.stamp.json`` records the digests of
the checkpoint, the config and ``wav.scp``, the size and mtime of every listed audio file
and the decoding options; a rerun with the same stamp is skipped (remove the dir to
re-decode).
"""

import argparse
import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Dict

import soundfile
import torch

from espnet_echo.inference.speech2echo import Speech2Echo
from espnet_echo.utils.audio import load_audio
from espnet_echo.utils.cli import add_log_level_argument, setup_logging
from espnet_echo.utils.fileio import (
    atomic_open,
    file_digest,
    read_kaldi_map,
    stamp_is_current,
    staged_dir,
    write_kaldi_map,
    write_stamp,
)

STAMP = ".stamp.json"
#: Options that change the hypotheses (device and threads do not).
DECODING_OPTIONS = (
    "fs", "resample", "diar_threshold", "min_speaker_sec", "beam_size", "ctc_weight"
)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--train_config", required=True, help="config.yaml of the model")
    p.add_argument("--model_file", required=True, help="checkpoint (.pth)")
    p.add_argument("--data_dir", required=True, help="data dir with wav.scp")
    p.add_argument("--output_dir", required=True, help="hypothesis dir to write")
    p.add_argument("--device", default="cpu")
    p.add_argument("--fs", type=int, default=16000)
    p.add_argument("--resample", action="store_true", help="resample wrong-rate audio")
    p.add_argument("--diar_threshold", type=float, default=0.5)
    p.add_argument("--min_speaker_sec", type=float, default=0.3)
    p.add_argument("--beam_size", type=int, default=1, help="1 = greedy CTC")
    p.add_argument("--ctc_weight", type=float, default=0.3)
    p.add_argument("--num_threads", type=int, default=0, help="torch threads (0: keep)")
    add_log_level_argument(p)
    return p


def inference_stamp(args: argparse.Namespace, wavs: Dict[str, str]) -> Dict:
    """What the hypotheses depend on: model, config, audio list and files, options."""
    audio = hashlib.sha256()
    for utt, path in wavs.items():
        try:
            st = os.stat(path)
            audio.update(f"{utt} {path} {st.st_size} {st.st_mtime_ns}\n".encode())
        except OSError:  # load_audio reports it with the file name
            audio.update(f"{utt} {path} missing\n".encode())
    return {
        "model_file": file_digest(args.model_file),
        "train_config": file_digest(args.train_config),
        "wav_scp": file_digest(Path(args.data_dir) / "wav.scp"),
        "audio": audio.hexdigest(),
        "options": {k: getattr(args, k) for k in DECODING_OPTIONS},
    }


def main(cmd=None) -> None:
    args = get_parser().parse_args(cmd)
    setup_logging(args.log_level)
    wavs = read_kaldi_map(Path(args.data_dir) / "wav.scp")
    out = Path(args.output_dir)
    stamp = inference_stamp(args, wavs)
    if stamp_is_current(out, stamp, STAMP):
        logging.info(f"{out} is up to date; skipped (remove it to re-decode)")
        return
    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    echo = Speech2Echo(
        args.train_config, args.model_file, device=args.device, fs=args.fs,
        diar_threshold=args.diar_threshold, min_speaker_sec=args.min_speaker_sec,
        beam_size=args.beam_size, ctc_weight=args.ctc_weight,
    )
    with staged_dir(out) as tmp:
        info = decode(echo, wavs, args, tmp, out)
    write_stamp(out, stamp, STAMP)
    logging.info(f"{len(wavs)} utterances -> {out}; RTF {info['rtf']:.4f}")


def decode(
    echo: Speech2Echo, wavs: Dict[str, str], args: argparse.Namespace, tmp: Path, out: Path
) -> Dict:
    """Decode every recording into ``tmp``; audio paths name their place under ``out``."""
    (tmp / "wav").mkdir()
    rttm_lines, num_spk, scps, texts = [], {}, {}, {}
    audio_sec = proc_sec = 0.0
    for utt, path in wavs.items():
        speech = load_audio(path, fs=args.fs, resample=args.resample)
        start = time.perf_counter()
        res = echo(speech, name=path)
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
        "encoder_params": sum(p.numel() for p in echo.model.encoder.parameters()),
        "num_utts": len(wavs),
    }
    with atomic_open(tmp / "info.json") as f:
        json.dump(info, f, indent=2)
    return info


if __name__ == "__main__":
    main()

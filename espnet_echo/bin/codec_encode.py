#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Audio -> tokens of the JEPA + DAAM tokenizer (``--codec jepa_fsq``).

Writes ``<out_dir>/tokens.jsonl`` (line 1: header with frame rate, FSQ levels, grouping and
vocabulary sizes; then one ``{"key", "num_samples", "num_frames", "npy", "tokens"}`` line per
utterance), ``<out_dir>/npy/<key>.npy`` (T, G) and ``<out_dir>/header.json``
(:mod:`espnet_echo.codec.inference`). Inputs are audio files and/or ``wav.scp`` files
(``*.scp``); keys must be plain file names. A re-run into the same ``--out_dir`` resumes:
utterances whose input is unchanged are kept, changed ones re-encoded; a dir written with
another ``--model_file``/``--config`` is refused (use a new ``--out_dir``). Every file is
written atomically.

Example:
    python -m espnet_echo.bin.codec_encode --config exp/codec/config.yaml \\
        --model_file exp/codec/valid.mel_loss.best.pth --out_dir exp/codec/tokens_test \\
        data/test/wav.scp
"""

import argparse
from typing import Optional, Sequence

from espnet_echo.codec.inference import CodecRunner, encode_to_dir
from espnet_echo.utils.cli import add_log_level_argument, exit_on_error, setup_logging


def get_parser() -> argparse.ArgumentParser:
    """Command-line parser."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("inputs", nargs="+", help="audio files and/or wav.scp files (*.scp)")
    p.add_argument("--config", required=True, help="codec config.yaml (codec_train output)")
    p.add_argument("--model_file", required=True, help="codec checkpoint (.pth state dict)")
    p.add_argument("--out_dir", required=True, help="token directory (created or resumed)")
    p.add_argument("--device", default="cpu", help="torch device")
    p.add_argument(
        "--resample", action="store_true",
        help="resample audio at another rate to the codec's (a bare flag: no value)",
    )
    add_log_level_argument(p)
    return p


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Run the tool; bad input exits with status 1 and one message naming the file."""
    args = get_parser().parse_args(cmd)
    setup_logging(args.log_level)
    with exit_on_error("codec_encode", (ValueError, OSError)):
        runner = CodecRunner.from_files(args.config, args.model_file, args.device)
        out = encode_to_dir(runner, args.inputs, args.out_dir, resample=args.resample)
        print(out)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tokens (``tokens.jsonl`` of ``codec_encode``) -> 16 kHz WAV of the JEPA + DAAM tokenizer.

Writes ``<out_dir>/wav/<key>.wav`` (16-bit PCM at the codec rate, cropped to the original
length) and ``<out_dir>/wav.scp``; atomic. A re-run into the same ``--out_dir`` resumes:
WAVs of unchanged token records are kept (logged as resumed), changed ones decoded again;
a dir written with another ``--model_file``/``--config`` is refused. A token file whose
header (frame rate, levels, grouping) differs from the codec, tokens outside the
vocabulary, ``tokens`` disagreeing with ``num_frames``/``num_samples``, duplicate keys or
keys that are not plain file names are errors naming the file (and line)
(:mod:`espnet_echo.codec.inference`).

Example:
    python -m espnet_echo.bin.codec_decode --config exp/codec/config.yaml \\
        --model_file exp/codec/valid.mel_loss.best.pth \\
        --tokens exp/codec/tokens_test/tokens.jsonl --out_dir exp/codec/decode_test
"""

import argparse
from typing import Optional, Sequence

from espnet_echo.codec.inference import CodecRunner, decode_to_dir
from espnet_echo.utils.cli import add_log_level_argument, exit_on_error, setup_logging


def get_parser() -> argparse.ArgumentParser:
    """Command-line parser."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", required=True, help="codec config.yaml (codec_train output)")
    p.add_argument("--model_file", required=True, help="codec checkpoint (.pth state dict)")
    p.add_argument("--tokens", required=True, help="tokens.jsonl written by codec_encode")
    p.add_argument("--out_dir", required=True, help="output directory (wav/, wav.scp)")
    p.add_argument("--device", default="cpu", help="torch device")
    add_log_level_argument(p)
    return p


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Run the tool; bad input exits with status 1 and one message naming the file."""
    args = get_parser().parse_args(cmd)
    setup_logging(args.log_level)
    with exit_on_error("codec_decode", (ValueError, OSError)):
        runner = CodecRunner.from_files(args.config, args.model_file, args.device)
        print(decode_to_dir(runner, args.tokens, args.out_dir))


if __name__ == "__main__":
    main()

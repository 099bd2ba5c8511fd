#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Recipe stage 3: the token list (and sentencepiece model) of the ASR head.

``python -m espnet_echo.bin.make_token_list --token_type bpe --nbpe 100 --bpemode unigram
--input dump/raw/train/text_spk1 --input dump/raw/train/text_spk2
--output_dir data/token_list/bpe_unigram100``

Writes ``tokens.txt`` in ESPnet's ``asr.sh`` layout (and ``bpe.model`` for ``bpe``); empty
transcripts are skipped, and a re-run with the same inputs and options is a no-op
(:mod:`espnet_echo.utils.token_list`).
"""

import argparse
from typing import Optional, Sequence

from espnet_echo.utils.cli import add_log_level_argument, exit_on_error, setup_logging
from espnet_echo.utils.token_list import make_token_list


def get_parser() -> argparse.ArgumentParser:
    """Command line of stage 3."""
    parser = argparse.ArgumentParser(
        description="Build the token list (and sentencepiece model) of EchoTask",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--token_type", choices=["bpe", "char"], default="bpe")
    parser.add_argument("--nbpe", type=int, default=100, help="Vocabulary size for bpe")
    parser.add_argument("--bpemode", choices=["unigram", "bpe"], default="unigram")
    parser.add_argument(
        "--input", action="append", required=True,
        help="Kaldi text file (repeatable), e.g. dump/raw/train/text_spk1",
    )
    parser.add_argument(
        "--output_dir", required=True, help="e.g. data/token_list/bpe_unigram100"
    )
    parser.add_argument(
        "--bpe_char_cover", type=float, default=1.0,
        help="sentencepiece character_coverage",
    )
    parser.add_argument(
        "--bpe_input_sentence_size", type=int, default=100000000,
        help="sentencepiece input_sentence_size",
    )
    add_log_level_argument(parser)
    return parser


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Run stage 3; a problem exits with status 1 and one message on stderr.

    Example:
        % python -m espnet_echo.bin.make_token_list --token_type char \\
            --input dump/raw/train/text_spk1 --output_dir data/token_list/char
    """
    args = get_parser().parse_args(cmd)
    setup_logging(args.log_level)
    with exit_on_error("make_token_list"):  # DataFileError, TokenListError: ValueError
        make_token_list(
            args.input,
            args.output_dir,
            token_type=args.token_type,
            nbpe=args.nbpe,
            bpemode=args.bpemode,
            character_coverage=args.bpe_char_cover,
            input_sentence_size=args.bpe_input_sentence_size,
        )


if __name__ == "__main__":
    main()

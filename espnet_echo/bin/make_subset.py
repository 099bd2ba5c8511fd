#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Derived data dirs: the mixtures of given speaker counts, or the clean sources as utterances.

:mod:`espnet_echo.data.subsets`. ``--num_spk 1`` keeps the single-speaker mixtures (a
K=1-first curriculum; scoring K=1 alone: ``python -m espnet_echo.bin.score --ref_dir
<out_dir>``) with every file of the data dir restricted to them (audio scps, transcripts,
``utt2*``, ``rttm``, ``espnet_rttm``, ``uem``, ...; ``spk2utt`` rebuilt; files it cannot
restrict are logged as not carried); the counts must lie in 1..MAX_SPK, and dirs with
``segments`` are refused. ``--sources`` writes each clean source of each mixture as a
one-speaker utterance ``<mix>_s<n>`` with its transcript (single-speaker CTC
pre-training of the ASR path on the training sources). The output's
``utt2num_samples`` (always complete: from the data dir, else from the audio headers;
an entry that is a pipe or an ark without a given length is an error) doubles as
ESPnet's ``speech_shape`` file.

Examples:
    python -m espnet_echo.bin.make_subset --data_dir dump/raw/train --out_dir dump/raw/train_k1 --num_spk 1
    python -m espnet_echo.bin.make_subset --data_dir dump/raw/train --out_dir dump/raw/train_src --sources
"""

import argparse
import logging
from typing import Optional, Sequence

from espnet_echo.data.subsets import select_num_spk, sources_as_utterances
from espnet_echo.utils.cli import add_log_level_argument, exit_on_error, setup_logging


def get_parser() -> argparse.ArgumentParser:
    """Command-line parser."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data_dir", required=True, help="data dir or format_data dump")
    p.add_argument("--out_dir", required=True, help="output dir (replaced only if it is "
                   "an earlier output of this tool)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--num_spk", type=int, nargs="+",
                       help="speaker counts K to keep, each in 1..MAX_SPK")
    which.add_argument("--sources", action="store_true",
                       help="the clean sources as one-speaker utterances")
    add_log_level_argument(p)
    return p


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Run the tool; a data problem exits with status 1 and one message on stderr."""
    args = get_parser().parse_args(cmd)
    setup_logging(args.log_level)
    with exit_on_error("make_subset", (ValueError, OSError)):
        if args.sources:
            n = sources_as_utterances(args.data_dir, args.out_dir)
        else:
            n = select_num_spk(args.data_dir, args.out_dir, args.num_spk)
    logging.info(f"{n} utterances -> {args.out_dir}")


if __name__ == "__main__":
    main()

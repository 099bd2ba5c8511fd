#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Recipe stage 2: validate a data dir and dump it in the layout of EchoTask.

``python -m espnet_echo.bin.format_data --src data/train --dst dump/raw/train --num_spk 3``

The work is done by :func:`espnet_echo.data.format.format_data` (dump layout, checks and
the Kaldi/ESPnet conventions accepted: its module docstring and ``docs/CONTRACT.md``).
"""

import argparse
import sys
from typing import Optional, Sequence

from espnet_echo.data.format import NUM_SPK_MAX, STAMP_NAME, format_data
from espnet_echo.utils.audio import AudioError
from espnet_echo.utils.cli import add_log_level_argument, setup_logging
from espnet_echo.utils.fileio import DataFileError

__all__ = ["NUM_SPK_MAX", "STAMP_NAME", "format_data", "get_parser", "main"]


def get_parser() -> argparse.ArgumentParser:
    """Command line of stage 2."""
    from espnet2.utils.types import str2bool

    parser = argparse.ArgumentParser(
        description="Validate a data dir and dump it for EchoTask",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--src", required=True, help="Data dir, e.g. data/train")
    parser.add_argument("--dst", required=True, help="Dump dir, e.g. dump/raw/train")
    parser.add_argument(
        "--num_spk", type=int, default=3,
        help=f"Speaker slots (1..{NUM_SPK_MAX}): text_spk1..num_spk are written",
    )
    parser.add_argument("--fs", type=int, default=16000, help="Required sample rate")
    parser.add_argument(
        "--resample", type=str2bool, default=False,
        help="Resample audio of another rate into <dst>/wav/ instead of failing "
        "(every time label is carried to the new rate)",
    )
    parser.add_argument("--nj", type=int, default=1, help="Parallel jobs for audio checks")
    add_log_level_argument(parser)
    return parser


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Run stage 2; a data problem exits with status 1 and one message on stderr.

    Example:
        % python -m espnet_echo.bin.format_data --src data/train --dst dump/raw/train \\
            --num_spk 3 --fs 16000
    """
    args = get_parser().parse_args(cmd)
    setup_logging(args.log_level)
    try:
        format_data(args.src, args.dst, args.num_spk, args.fs, args.resample, args.nj)
    except (DataFileError, AudioError, ValueError, OSError) as e:  # unwritable --dst too
        sys.exit(f"format_data: error: {e}")


if __name__ == "__main__":
    main()

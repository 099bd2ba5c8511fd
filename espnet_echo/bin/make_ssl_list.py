#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Unlabelled audio list for JEPA pretraining (recipe stage 5): mixtures + clean sources.

Writes ``<out_dir>/wav.scp`` and ``<out_dir>/speech_shape`` from a ``format_data`` dump
dir: every mixture under its own key and every reference source ``n`` under
``<utt>-src<n>`` (:mod:`espnet_echo.data.ssl_list`). The output dir is replaced
atomically and the run is skipped when a stamp says the inputs have not changed.

Example:
    python -m espnet_echo.bin.make_ssl_list --data_dir dump/raw/train \\
        --out_dir dump/raw/train_ssl
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import Optional, Sequence

from espnet2.utils.types import str2bool

from espnet_echo.data.ssl_list import write_ssl_list
from espnet_echo.utils.fileio import DataFileError


def get_parser() -> argparse.ArgumentParser:
    """Command-line parser."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_dir", type=Path, required=True, help="format_data dump dir")
    p.add_argument("--out_dir", type=Path, required=True)
    p.add_argument(
        "--with_sources",
        type=str2bool,
        default=True,
        help="also list the clean sources (true/false)",
    )
    return p


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Write the list; a data problem exits with status 1 and one message on stderr."""
    args = get_parser().parse_args(cmd)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        write_ssl_list(args.data_dir, args.out_dir, args.with_sources)
    except (DataFileError, OSError) as e:  # unwritable --out_dir too
        sys.exit(f"ERROR: {e}")


if __name__ == "__main__":
    main()

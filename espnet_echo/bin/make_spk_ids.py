#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Training-speaker ids of the speaker head: ``--spk_list`` and ``<dir>/spk_ids``.

Builds the sorted speaker list of ``--train_dir``'s ``utt2spks`` (written to ``--spk_list``,
EchoTask's option of the same name), then writes ``<dir>/spk_ids``
(``<utt> <id_1> ... <id_K>``, -1 for speakers not in the list; data option
``<dir>/spk_ids,spk_ids,text_int``) for every ``--data_dir``
(:mod:`espnet_echo.data.spk_ids`). Files are written atomically and only when they change.

Example:
    python -m espnet_echo.bin.make_spk_ids --train_dir dump/raw/train \\
        --spk_list data/spk_list.txt --data_dir dump/raw/train --data_dir dump/raw/dev
"""

import argparse
from typing import Optional, Sequence

from espnet_echo.data.spk_ids import make_spk_ids
from espnet_echo.utils.cli import add_log_level_argument, exit_on_error, setup_logging


def get_parser() -> argparse.ArgumentParser:
    """Command-line parser."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--train_dir", required=True, help="training dump dir (its utt2spks)")
    p.add_argument("--spk_list", required=True, help="output speaker list, one id a line")
    p.add_argument(
        "--data_dir", action="append", required=True,
        help="dir to write spk_ids into (repeatable; include the train dir)",
    )
    add_log_level_argument(p)
    return p


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Run the tool; a data problem exits with status 1 and one message on stderr."""
    args = get_parser().parse_args(cmd)
    setup_logging(args.log_level)
    with exit_on_error("make_spk_ids", (ValueError, OSError)):
        make_spk_ids(args.train_dir, args.spk_list, args.data_dir)


if __name__ == "__main__":
    main()

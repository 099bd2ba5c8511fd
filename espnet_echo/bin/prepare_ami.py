#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""AMI meetings -> data dirs of whole recordings with their reference RTTM and UEM.

``python -m espnet_echo.bin.prepare_ami --ami_root /data/amicorpus \\
--setup_root /data/AMI-diarization-setup --out_dir data --splits dev test``

The work is done by :func:`espnet_echo.data.corpora.ami.prepare_ami` (expected layout,
checks, output files: its module docstring). A missing or partial corpus, a missing list,
RTTM or UEM, or audio at another rate than ``--fs`` exits with status 1 and one message
naming the path; nothing is written then.
"""

import argparse
import sys
from typing import Optional, Sequence

from espnet_echo.data.corpora.ami import MICS, REFERENCES, SPLITS, prepare_ami
from espnet_echo.utils.cli import add_log_level_argument, setup_logging
from espnet_echo.utils.fileio import DataFileError


def get_parser() -> argparse.ArgumentParser:
    """Command line."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--ami_root", required=True,
                   help="the AMI audio tree: <ami_root>/<meeting>/audio/<meeting>.<mic>.wav "
                   "(the 'amicorpus' dir, or a dir holding it)")
    p.add_argument("--setup_root", required=True,
                   help="checkout of BUTSpeechFIT/AMI-diarization-setup (lists/, uems/, "
                   "<reference>/rttms/)")
    p.add_argument("--out_dir", required=True, help="parent of the split data dirs")
    p.add_argument("--splits", nargs="+", default=["dev", "test"], choices=SPLITS,
                   help="splits of the Full-corpus-ASR partition to prepare")
    p.add_argument("--mic", default="ihm-mix", choices=sorted(MICS),
                   help="ihm-mix: <meeting>.Mix-Headset.wav; sdm: <meeting>.Array1-01.wav")
    p.add_argument("--reference", default="only_words", choices=REFERENCES,
                   help="reference RTTM set of AMI-diarization-setup")
    p.add_argument("--fs", type=int, default=16000,
                   help="sample rate (Hz) the model expects; other rates are an error")
    add_log_level_argument(p)
    return p


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Prepare the splits; a data problem exits with status 1 and one message."""
    args = get_parser().parse_args(cmd)
    setup_logging(args.log_level)
    try:
        prepare_ami(args.ami_root, args.setup_root, args.out_dir, args.splits, args.mic,
                    args.fs, args.reference)
    except (DataFileError, ValueError, OSError) as e:
        sys.exit(f"prepare_ami: error: {e}")


if __name__ == "__main__":
    main()

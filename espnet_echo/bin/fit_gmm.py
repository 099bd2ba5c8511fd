#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Fit the frozen diagonal GMM anchor of GMM-anchored JEPA on log-mel frames.

``python -m espnet_echo.bin.fit_gmm --config conf/train_jepa.yaml --wav_scp
dump/raw/train/wav.scp --num_components 64 --max_frames 200000 --out exp/gmm/gmm.npz``

The features are the log-mel frames of the training config's frontend (``frontend:
default``, before ``normalize``), built through the config's ESPnet task; ``--max_frames``
of them are drawn (seeded) for the fit (:mod:`espnet_echo.ssl.gmm_fit`). A scp line may
hold several paths (e.g. ``speech_ref.scp``): each is one signal. A re-run with the same
options, frontend and scp files is skipped (stamp ``.<out name>.stamp.json``); a failed
run leaves an existing output untouched.
"""

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from espnet_echo.ssl.gmm_fit import fit_gmm
from espnet_echo.utils.cli import add_log_level_argument, exit_on_error, setup_logging


def get_parser() -> argparse.ArgumentParser:
    """Command line."""
    parser = argparse.ArgumentParser(
        description="Fit the frozen diagonal GMM anchor on log-mel frames",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--config", type=Path, required=True,
                        help="Training config with frontend/frontend_conf")
    parser.add_argument("--wav_scp", type=Path, action="append", required=True,
                        help="Audio list <utt> <path> [<path> ...]; repeatable")
    parser.add_argument("--out", type=Path, required=True, help="Output .npz")
    parser.add_argument("--num_components", type=int, default=64, help="K")
    parser.add_argument("--max_frames", type=int, default=200000,
                        help="Frames drawn uniformly for the fit")
    parser.add_argument("--num_iters", type=int, default=20, help="EM iterations")
    parser.add_argument("--seed", type=int, default=0, help="Seed of draw and init")
    parser.add_argument("--var_floor", type=float, default=1e-3, help="Variance floor")
    add_log_level_argument(parser)
    return parser


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Fit the GMM; a data problem exits with status 1 and one message on stderr.

    Example:
        % python -m espnet_echo.bin.fit_gmm --config conf/train_jepa.yaml \\
            --wav_scp dump/raw/train/wav.scp --num_components 64 --out exp/gmm/gmm.npz
    """
    args = get_parser().parse_args(cmd)
    setup_logging(args.log_level)
    if args.max_frames < args.num_components:
        sys.exit(f"fit_gmm: error: --max_frames ({args.max_frames}) must be >= "
                 f"--num_components ({args.num_components})")
    # DataFileError, AudioError, GMMFileError and bad fit options are ValueErrors
    with exit_on_error("fit_gmm", (ValueError,)):
        fit_gmm(args.config, args.wav_scp, args.out, args.num_components, args.max_frames,
                args.num_iters, args.seed, args.var_floor)


if __name__ == "__main__":
    main()

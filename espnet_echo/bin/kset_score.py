#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Echo's latent separation metrics of a K-set model (``sep_head: kset``) on a data dir.

``python -m espnet_echo.bin.kset_score --train_config exp/m/config.yaml --model_file
exp/m/valid.loss.best.pth --data_dir dump/raw/test --out_dir exp/m/kset_test``

Writes ``<out_dir>/records/<utt>.npz`` and ``<out_dir>/scores.json`` (latent SI-SDR,
SI-SDRi, PIT accuracy, K-routing accuracy, mean |K̂-K|) and prints the scores; see
:mod:`espnet_echo.inference.latent_eval` and :mod:`espnet_echo.metrics.latent_separation`.
"""

import argparse
import json
from pathlib import Path
from typing import Optional, Sequence

import torch

from espnet_echo.inference.latent_eval import score_kset_data_dir
from espnet_echo.utils.cli import add_log_level_argument, exit_on_error, setup_logging


def get_parser() -> argparse.ArgumentParser:
    """Command line."""
    p = argparse.ArgumentParser(
        description="Latent separation metrics of a K-set model on a data dir",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--train_config", type=Path, required=True, help="config.yaml")
    p.add_argument("--model_file", type=Path, required=True, help="checkpoint (.pth)")
    p.add_argument("--data_dir", type=Path, required=True,
                   help="data dir (or dump) with the mixtures, clean sources and K")
    p.add_argument("--out_dir", type=Path, required=True, help="records/ and scores.json")
    p.add_argument("--max_utts", type=int, default=None, help="first N utterances only")
    p.add_argument("--num_threads", type=int, default=1, help="torch threads (0: keep)")
    add_log_level_argument(p)
    return p


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Score and print the JSON; bad data or options exit with status 1."""
    args = get_parser().parse_args(cmd)
    setup_logging(args.log_level)
    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    with exit_on_error("kset_score", (ValueError, RuntimeError, FileExistsError)):
        scores = score_kset_data_dir(args.train_config, args.model_file, args.data_dir,
                                     args.out_dir, args.max_utts)
    print(json.dumps(scores, indent=2))


if __name__ == "__main__":
    main()

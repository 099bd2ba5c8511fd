#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Fit the PLDA of blind diarization (``echo_inference --diar_mode vbx``) for a trained model.

``python -m espnet_echo.bin.fit_plda --train_config exp/m/config.yaml --model_file
exp/m/valid.loss.best.pth --data_dir dump/raw/train --out exp/m/plda.npz``

The model's speaker head embeds windows of single-speaker frames of every reference
speaker of the data dir (labelled by its global speaker id); a two-covariance PLDA
with LDA is fitted on them (:mod:`espnet_echo.inference.speaker_embeddings`). A re-run
with the same checkpoint, config, data and options is skipped (stamp
``.<out name>.stamp.json``); the output is written atomically.
"""

import argparse
from pathlib import Path
from typing import Optional, Sequence

import torch

from espnet_echo.inference.speaker_embeddings import fit_plda
from espnet_echo.utils.cli import add_log_level_argument, exit_on_error, setup_logging


def get_parser() -> argparse.ArgumentParser:
    """Command line."""
    p = argparse.ArgumentParser(
        description="Fit the PLDA of a model's speaker embeddings on a labelled data dir",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--train_config", type=Path, required=True, help="config.yaml")
    p.add_argument("--model_file", type=Path, required=True, help="checkpoint (.pth)")
    p.add_argument("--data_dir", type=Path, required=True,
                   help="training data dir with rttm or espnet_rttm")
    p.add_argument("--out", type=Path, required=True,
                   help="output .npz (echo_inference looks for <model dir>/plda.npz)")
    p.add_argument("--max_utts", type=int, default=None,
                   help="at most this many utterances, spread evenly (default: all)")
    p.add_argument("--lda_dim", type=int, default=None,
                   help="LDA dimension (default: min(embed_dim, speakers - 1))")
    p.add_argument("--min_solo_share", type=float, default=0.5,
                   help="least share of single-speaker frames of a training window")
    p.add_argument("--batch_size", type=int, default=16, help="utterances per forward")
    p.add_argument("--fs", type=int, default=16000)
    p.add_argument("--resample", action="store_true", help="resample wrong-rate audio")
    p.add_argument("--device", default="cpu")
    p.add_argument("--num_threads", type=int, default=0, help="torch threads (0: keep)")
    add_log_level_argument(p)
    return p


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Fit and save the PLDA; bad data or options exit with status 1 and one message."""
    args = get_parser().parse_args(cmd)
    setup_logging(args.log_level)
    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    # DataFileError and AudioError are ValueErrors; RuntimeError: checkpoint vs config
    with exit_on_error("fit_plda", (ValueError, RuntimeError)):
        fit_plda(
            args.train_config, args.model_file, args.data_dir, args.out,
            max_utts=args.max_utts, lda_dim=args.lda_dim, batch_size=args.batch_size,
            min_solo_share=args.min_solo_share, fs=args.fs, resample=args.resample,
            device=args.device,
        )


if __name__ == "__main__":
    main()

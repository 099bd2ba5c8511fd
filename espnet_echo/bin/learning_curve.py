#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Learning curves of training runs: DER, SI-SDRi, WER/cpWER and K accuracy per checkpoint.

Every ``<N>epoch.pth`` of every ``--exp_dirs`` dir (ESPnet training output; train with a
large ``--keep_nbest_models`` so the checkpoints are kept), or only those of ``--epochs``
(each must exist in every dir) or ``--every N`` (epochs N, 2N, ... plus the first and last
kept), is decoded on a fixed seeded subset of ``--data_dir`` (``--max_utts``) with
``echo_inference``'s decoder and options, scored, and written to ``<out_dir>/curves.csv``
and ``<out_dir>/curves.png`` (each metric against training steps and wall-clock minutes
from ``log/train.log``, models overlaid, with the per-speaker-count scores ``wer_k1``,
``cpwer_k2``, ``sisdri_k1``..``sisdri_k3`` as dash-dotted lines and ESPnet's per-epoch
validation statistics of the same quantities, every logged epoch, as dashed "valid stats"
lines). With ``--probe_data_dir`` (e.g. ``dump/raw/probe``) each checkpoint of a model
with a speaker head also gets the speaker/content factorisation probe (the library of
``espnet_echo.bin.factorisation_probe``), written to
``<out_dir>/<model>/<N>epoch/probe.json``, as the columns and panels
``factorisation_gap`` (points) and ``speaker_id`` (the probe's speaker-ID top-1, %);
empty for models without one. Decoded and probed checkpoints are skipped on a re-run
(the decode's stamp, the probe's). Details: :mod:`espnet_echo.metrics.curves`.

Example (30 kept epochs of two models, decoded at epochs 1, 5, 10, ..., 30)::

    python -m espnet_echo.bin.learning_curve --exp_dirs exp/a exp/b \\
        --data_dir dump/raw/dev --max_utts 50 --out_dir exp/curves --diar_mode eend \\
        --every 5

or ``--epochs 1 5 10`` for chosen epochs; add ``--probe_data_dir dump/raw/probe`` for
the factorisation probe of each checkpoint.
"""

import argparse
import logging

import torch

from espnet_echo.bin import echo_inference
from espnet_echo.metrics.curves import format_table, learning_curves, plot_curves, write_csv
from espnet_echo.utils.cli import add_log_level_argument, exit_on_error, setup_logging

#: Options of echo_inference that this tool sets per checkpoint (or does not use).
_NOT_PASSED = {"help", "train_config", "model_file", "data_dir", "output_dir",
               "plda_file", "log_level"}


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--exp_dirs", nargs="+", required=True,
                   help="ESPnet training dirs (config.yaml, log/train.log, <N>epoch.pth)")
    p.add_argument("--data_dir", required=True, help="dev data dir (or dump) to decode")
    p.add_argument("--out_dir", required=True, help="output dir (curves.csv, curves.png)")
    p.add_argument("--max_utts", type=int, default=None,
                   help="decode a seeded random subset of this many utterances")
    p.add_argument("--seed", type=int, default=0, help="seed of the subset")
    p.add_argument("--plda_data_dir", default=None,
                   help="--diar_mode vbx: training dump to fit each checkpoint's PLDA on")
    p.add_argument("--plda_max_utts", type=int, default=None,
                   help="--diar_mode vbx: utterances of --plda_data_dir per PLDA")
    p.add_argument("--probe_data_dir", default=None,
                   help="also run the speaker/content factorisation probe on this data "
                        "dir (e.g. dump/raw/probe) for each checkpoint of a model with a "
                        "speaker head: columns factorisation_gap, speaker_id")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--epochs", type=int, nargs="+", default=None,
                       help="decode only these epochs' <N>epoch.pth (default: all kept)")
    which.add_argument("--every", type=int, default=None, metavar="N",
                       help="decode only epochs N, 2N, 3N, ... and the first and last "
                            "kept epoch")
    group = p.add_argument_group("decoding options (as espnet_echo.bin.echo_inference)")
    for action in echo_inference.get_parser()._actions:
        if action.dest not in _NOT_PASSED:
            group._add_action(action)
    add_log_level_argument(p)
    return p


def main(cmd=None) -> None:
    args = get_parser().parse_args(cmd)
    setup_logging(args.log_level)
    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    with exit_on_error("learning_curve"):
        rows, valid = learning_curves(
            args.exp_dirs, args.data_dir, args.out_dir, args, max_utts=args.max_utts,
            seed=args.seed, plda_data_dir=args.plda_data_dir,
            plda_max_utts=args.plda_max_utts, epochs=args.epochs, every=args.every,
            probe_data_dir=args.probe_data_dir,
        )
    csv_path = write_csv(rows, f"{args.out_dir}/curves.csv")
    png_path = plot_curves(rows, valid, f"{args.out_dir}/curves.png")
    print(format_table(rows))
    logging.info(f"{len(rows)} checkpoints -> {csv_path}, {png_path}")


if __name__ == "__main__":
    main()

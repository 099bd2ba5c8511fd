#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Extract the encoder of an OWSM (ESPnet S2T) model to initialise the Echo UME baseline.

From an exp dir::

    python -m espnet_echo.bin.extract_owsm_encoder --s2t_train_config exp/owsm/config.yaml \\
        --s2t_model_file exp/owsm/model.pth --outdir exp/owsm_init

or from a packed ESPnet S2T zip (checked for path traversal, then unpacked into
``<outdir>/packed``)::

    python -m espnet_echo.bin.extract_owsm_encoder --packed_model owsm.zip \\
        --outdir exp/owsm_init

Writes ``<outdir>/encoder.pth`` (the ``encoder.*`` (and ``frontend.*``) entries, for
``--init_param <outdir>/encoder.pth:encoder:encoder``), ``<outdir>/encoder_conf.yaml``
(frontend, normalize and encoder options to paste into an Echo training config) and
``<outdir>/feats_stats.npz`` (the S2T normalize statistics), after checking that EchoTask
can build the encoder and that the checkpoint matches the config
(:mod:`espnet_echo.utils.owsm`). A relative ``stats_file`` is looked up in the working
directory, then above the config; ``--stats_file`` overrides it.
"""

import argparse
from typing import Optional, Sequence

from espnet_echo.utils.cli import add_log_level_argument, exit_on_error, setup_logging
from espnet_echo.utils.owsm import extract_owsm_encoder


def get_parser() -> argparse.ArgumentParser:
    """Command-line parser."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--s2t_train_config", default=None,
                   help="S2T config.yaml (default: config.yaml next to --s2t_model_file)")
    p.add_argument("--s2t_model_file", default=None, help="S2T model.pth (a state dict)")
    p.add_argument("--packed_model", default=None,
                   help="packed ESPnet S2T zip, instead of the two options above")
    p.add_argument("--stats_file", default=None,
                   help="overrides the config's normalize_conf.stats_file")
    p.add_argument("--outdir", required=True)
    add_log_level_argument(p)
    return p


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Run the extraction; a problem exits with status 1 and one message on stderr."""
    parser = get_parser()
    args = parser.parse_args(cmd)
    if (args.packed_model is None) == (args.s2t_model_file is None):
        parser.error("give exactly one of --packed_model and --s2t_model_file")
    if args.packed_model is not None and args.s2t_train_config is not None:
        parser.error("--s2t_train_config cannot be combined with --packed_model")
    setup_logging(args.log_level)
    with exit_on_error("extract_owsm_encoder", (FileNotFoundError, ValueError)):
        extract_owsm_encoder(
            args.outdir,
            s2t_train_config=args.s2t_train_config,
            s2t_model_file=args.s2t_model_file,
            packed_model=args.packed_model,
            stats_file=args.stats_file,
        )


if __name__ == "__main__":
    main()

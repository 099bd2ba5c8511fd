#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Pack a trained Echo model into an ESPnet model-zoo zip.

``python -m espnet_echo.bin.pack --train_config exp/x/config.yaml --model_file
exp/x/valid.loss.best.pth --option exp/stats/train/feats_stats.npz --option
data/token_list/bpe_unigram100/bpe.model --outpath exp/x/packed.zip``

Uses ESPnet's own ``pack`` with the keys ``echo_train_config`` / ``echo_model_file``,
which :meth:`Speech2Echo.from_pretrained` reads back through espnet_model_zoo. Files the
config refers to (stats, bpe model) must be passed with ``--option`` under the same
relative path, as with ESPnet's packer.
"""

import argparse
from typing import Optional, Sequence

from espnet2.main_funcs.pack_funcs import pack


def get_parser() -> argparse.ArgumentParser:
    """Command-line parser."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train_config", required=True)
    p.add_argument("--model_file", required=True)
    p.add_argument("--option", action="append", default=[], help="extra file to pack")
    p.add_argument("--outpath", required=True)
    return p


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Write the zip (``meta.yaml``, the config, the model file and the options)."""
    args = get_parser().parse_args(cmd)
    pack(
        files={"echo_model_file": args.model_file},
        yaml_files={"echo_train_config": args.train_config},
        option=args.option,
        outpath=args.outpath,
    )


if __name__ == "__main__":
    main()

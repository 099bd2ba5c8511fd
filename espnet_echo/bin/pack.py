#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Pack a trained Echo model into a self-contained ESPnet model-zoo zip.

``python -m espnet_echo.bin.pack --model exp/echo_train_echo --results RESULTS.md
--outpath exp/echo_train_echo/packed/echo_train_echo.zip``

The zip holds ``meta.yaml`` (keys ``echo_train_config`` / ``echo_model_file``, and
``echo_plda_file`` with a PLDA, which :meth:`Speech2Echo.from_pretrained` reads back
through espnet_model_zoo), the config, the checkpoint (``valid.loss.best.pth`` unless
``--model_file``), ``plda.npz`` if the exp dir has one, every file the config names
(statistics, BPE model, ...; found next to the model or from the cwd) and a model card
``README.md`` with the model's rows of ``--results``. Packing the same files again gives
the same bytes. The older form ``--train_config x/config.yaml --model_file x/m.pth``
still works; ``--option`` adds files under their path relative to the cwd.
"""

import argparse
from typing import Optional, Sequence

from espnet_echo.inference.model_files import pack_model
from espnet_echo.utils.cli import add_log_level_argument, exit_on_error, setup_logging


def get_parser() -> argparse.ArgumentParser:
    """Command-line parser."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="exp dir of the trained model")
    src.add_argument("--train_config", help="config.yaml (then --model_file is required)")
    p.add_argument("--model_file", default=None,
                   help="checkpoint (default with --model: valid.loss.best.pth)")
    p.add_argument("--option", action="append", default=[],
                   help="extra file to pack, under its path relative to the cwd")
    p.add_argument("--results", default=None, help="RESULTS.md of the recipe, for the card")
    p.add_argument("--data_licence", default=None, help="licence of the training data")
    p.add_argument("--outpath", required=True, help="zip to write")
    add_log_level_argument(p)
    return p


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Write the zip; a missing or unsafe input exits with status 1 and one message."""
    p = get_parser()
    args = p.parse_args(cmd)
    setup_logging(args.log_level)
    if args.train_config is not None and args.model_file is None:
        p.error("--train_config needs --model_file")
    with exit_on_error("pack"):
        out = pack_model(
            args.model or args.train_config, args.outpath, results=args.results,
            data_licence=args.data_licence, model_file=args.model_file,
            extra_files=args.option,
        )
    print(f"Generate: {out}")


if __name__ == "__main__":
    main()

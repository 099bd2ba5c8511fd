#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Print one value of a YAML config for a shell recipe (empty when it is unset).

A list prints one item a line, a boolean as ``true``/``false``; a mapping is an error.
JSON is YAML, so a JSON file (e.g. a hypothesis dir's ``info.json``) reads the same.

Example:
    python -m espnet_echo.bin.config_get conf/pretrain_jepa_gmm.yaml model_conf gmm_file
    python -m espnet_echo.bin.config_get conf/train_echo_jepa.yaml init_param
"""

import argparse
from typing import Optional, Sequence

from espnet_echo.utils.cli import exit_on_error
from espnet_echo.utils.config import ConfigError, config_value, format_value, load_config


def get_parser() -> argparse.ArgumentParser:
    """Command-line parser."""
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    p.add_argument("config", help="YAML (or JSON) file")
    p.add_argument("keys", nargs="+", help="key, then sub-keys, of the value")
    return p


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Print the value; an unreadable config or a mapping value exits with status 1."""
    args = get_parser().parse_args(cmd)
    with exit_on_error("config_get", (ConfigError,)):
        text = format_value(
            config_value(load_config(args.config), args.keys),
            where=f"{args.config}: {' '.join(args.keys)}",
        )
    if text:
        print(text)


if __name__ == "__main__":
    main()

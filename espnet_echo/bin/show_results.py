#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Collect ``scores.json`` files (from ``espnet_echo.bin.score``) into one markdown table.

One row per system, ESPnet ``RESULTS.md`` style, with the environment and, with
``--pretrain_dirs``, a table of the pretrained encoders (linear probes and last-epoch
validation statistics); see :mod:`espnet_echo.metrics.report` for the columns. With
``--protocol_models``, Echo's protocol table (:mod:`espnet_echo.metrics.protocol`): a
model is ``exp/<model>``, or ``exp/<model>+exp/<stage1>,exp/<stage2>`` for a staged model
whose earlier stages' training counts add to its own.

Example:
    python -m espnet_echo.bin.show_results --out RESULTS.md \\
        exp/a/decode_test/score/scores.json exp/b/decode_test/score/scores.json
"""

import argparse
import sys
from typing import Optional, Sequence

from espnet_echo.metrics.protocol import protocol_row
from espnet_echo.metrics.report import (
    format_results,
    load_factorisation_probe,
    load_pretrain_summary,
    load_scores,
)
from espnet_echo.utils.cli import exit_on_error
from espnet_echo.utils.fileio import atomic_open


def get_parser() -> argparse.ArgumentParser:
    """Command-line parser."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("scores", nargs="+", help="scores.json files, one per system")
    p.add_argument("--out", default=None, help="markdown file to write (atomically)")
    p.add_argument(
        "--pretrain_dirs", nargs="*", default=[],
        help="stage-5 dirs (probe.json, log/train.log) for the pretraining table",
    )
    p.add_argument(
        "--factorisation_probes", nargs="*", default=[],
        help="factorisation_probe JSON files (<exp>/<model>/factorisation_probe/"
        "probe.json) for the factorisation table",
    )
    p.add_argument(
        "--protocol_models", nargs="*", default=[],
        help="exp dirs for Echo's protocol table; 'exp/m+exp/s1,exp/s2' adds the training "
        "counts of the earlier stages s1, s2",
    )
    p.add_argument(
        "--protocol_set", default="test",
        help="test set of the protocol table (decode_<set>, kset_<set>)",
    )
    return p


def _protocol_rows(specs: Sequence[str], test_set: str) -> list:
    rows = []
    for spec in specs:
        model, plus, chain = spec.partition("+")
        stages = [c for c in chain.split(",") if c]
        if not model or (plus and not stages):
            raise ValueError(
                f"--protocol_models {spec!r}: expected exp/<model> or "
                f"exp/<model>+exp/<stage>[,exp/<stage>...]"
            )
        rows.append(protocol_row(model, test_set, stages))
    return rows


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Print (and write) the results table."""
    args = get_parser().parse_args(cmd)
    with exit_on_error("show_results"):
        text = format_results(
            [load_scores(p) for p in args.scores],
            [load_pretrain_summary(d) for d in args.pretrain_dirs],
            [load_factorisation_probe(p) for p in args.factorisation_probes],
            _protocol_rows(args.protocol_models, args.protocol_set),
        )
    if args.out:
        with atomic_open(args.out) as f:
            f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()

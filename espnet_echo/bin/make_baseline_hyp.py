#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Write a reference-derived hypothesis dir (docs/CONTRACT.md) to score beside the models.

``--kind oracle``: the reference answers as the hypothesis (DER 0, WER 0, K accuracy
100 %, SI-SDR at the clamp); ``--kind one_speaker``: K̂ = 1, all reference speech as one
speaker, the mixture as the one source and an empty transcript. The reference may be a
contract data dir or its ``format_data`` dump dir; only the tasks it has are written, and
numbered files of a previous run are removed (:mod:`espnet_echo.metrics.baseline`).

Example:
    python -m espnet_echo.bin.make_baseline_hyp --ref_dir data/test \\
        --out_dir exp/baseline_oracle/decode_test --kind oracle
"""

import argparse
import logging
from typing import Optional, Sequence

from espnet_echo.metrics.baseline import KINDS, make_baseline_hyp


def get_parser() -> argparse.ArgumentParser:
    """Command-line parser."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--ref_dir", required=True, help="reference data dir (data/<split>)")
    p.add_argument("--out_dir", required=True, help="hypothesis dir to write")
    p.add_argument("--kind", required=True, choices=KINDS)
    return p


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Run (see module docstring)."""
    args = get_parser().parse_args(cmd)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    written = make_baseline_hyp(args.ref_dir, args.out_dir, args.kind)
    logging.info(f"{args.kind}: wrote {', '.join(p.name for p in written)} in {args.out_dir}")


if __name__ == "__main__":
    main()

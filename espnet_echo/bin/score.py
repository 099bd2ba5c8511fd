#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Score a hypothesis dir against a reference data dir (formats: docs/CONTRACT.md).

The reference may be a contract data dir (``data/<split>``) or its ``format_data`` dump
(``dump/raw/<split>``). Every task whose files are in the hypothesis dir is scored, a task
without files there is reported as None (``-`` in tables): DER at each ``--collar``
(``rttm``), PIT SI-SDR / SI-SDRi (``spk{n}.scp``), PIT WER and cpWER (``text_spk{n}``),
speaker-count accuracy and mean |K̂ - K| (``utt2num_spk``), all corpus-level; an
utterance a task's files do not list is scored as "no output" for that task
(:mod:`espnet_echo.metrics.scoring`).

Writes ``<out_dir>/scores.json`` (atomically) and ``<out_dir>/scores.md``.

Example:
    python -m espnet_echo.bin.score --ref_dir data/test --hyp_dir exp/x/decode_test \\
        --out_dir exp/x/decode_test/score --name x/test
"""

import argparse
import logging
from typing import Optional, Sequence

from espnet_echo.metrics.report import format_table
from espnet_echo.metrics.scoring import score, write_scores
from espnet_echo.utils.cli import exit_on_error


def get_parser() -> argparse.ArgumentParser:
    """Command-line parser."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--ref_dir", required=True, help="reference data dir (data/<split>)")
    p.add_argument(
        "--hyp_dir", required=True, help="hypothesis dir (exp/<model>/decode_<split>)"
    )
    p.add_argument("--out_dir", required=True, help="where scores.json / scores.md go")
    p.add_argument("--name", default=None, help="system name (default: <model dir>/<hyp dir>)")
    p.add_argument(
        "--collar", type=float, nargs="+", default=[0.0, 0.25],
        help="DER collars in seconds, md-eval convention: no-score zone of this many "
        "seconds on EACH side of every reference boundary (pyannote gets twice this)",
    )
    p.add_argument("--fs", type=int, default=16000, help="expected sample rate of all audio")
    return p


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Run the scorer (see module docstring)."""
    args = get_parser().parse_args(cmd)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # data errors, bad options (--collar) and an unwritable --out_dir: one message each
    with exit_on_error("espnet_echo.bin.score", (ValueError, OSError)):
        scores = score(args.ref_dir, args.hyp_dir, args.collar, args.fs, args.name)
        js, _ = write_scores(scores, args.out_dir)
    logging.info(f"{scores['name']}: {scores['num_utts']} utterances -> {js}\n"
                 + format_table([scores]))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Speed of the corpus simulator: 1,000 mixtures (K = 1..3) from a cold TTS cache.

Usage:
    python bench/simulate_speed.py [--num 1000] [--nj 2] [--keep DIR]

Prints wall time, mixtures/s, audio hours and the number of distinct speakers.
Target: under 2 minutes on 2 cores.
"""

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from espnet_echo.simulate.corpus import SPLITS, CorpusConfig, build_corpus
from espnet_echo.utils.fileio import read_kaldi_map


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--num", type=int, default=1000, help="Mixtures (80/10/10 train/dev/test)."
    )
    parser.add_argument("--nj", type=int, default=2, help="Worker processes.")
    parser.add_argument("--seed", type=int, default=0, help="Random seed.")
    parser.add_argument(
        "--keep", type=str, default=None, help="Write here and keep (default: temp dir)."
    )
    args = parser.parse_args()

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="echo_simbench_"))
    num_dev = num_test = args.num // 10
    config = CorpusConfig(
        out_dir=str(root / "data"),
        wav_dir=str(root / "wav"),
        num_train=args.num - num_dev - num_test,
        num_dev=num_dev,
        num_test=num_test,
        min_spk=1,
        max_spk=3,
        seed=args.seed,
        nj=args.nj,
    )
    load_before = os.getloadavg()[0]
    start = time.time()
    try:
        summary = build_corpus(config)
        wall = time.time() - start
        speakers = set()
        for split in SPLITS:
            for spks in read_kaldi_map(root / "data" / split / "utt2spks").values():
                speakers.update(spks.split())
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    mixtures = sum(summary.mixtures.values())
    hours = sum(summary.hours.values())
    print(summary.format())
    print(f"cpu cores: {os.cpu_count()}, nj: {args.nj}, "
          f"load average 1 min before/after: {load_before:.2f}/{os.getloadavg()[0]:.2f}")
    print(f"wall time: {wall:.1f} s")
    print(f"mixtures/s: {mixtures / wall:.2f}")
    print(f"audio hours (mixtures): {hours:.3f}")
    print(f"distinct speakers: {len(speakers)} used (inventory {summary.inventory_size})")
    print(f"TTS utterances synthesised: {summary.tts_synthesised}")
    print(f"target < 120 s: {'PASS' if wall < 120 else 'FAIL'}")


if __name__ == "__main__":
    main()

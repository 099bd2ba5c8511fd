#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Oracle bounds of SI-SDRi on a data dir: what time gating alone can reach.

Usage (from a recipe dir, after stage 1):
    python ../../../bench/separation_bounds.py data/test [--frame_sec 0.04] [--max_utts N]

For every mixture and reference source it scores, with the project's PIT SI-SDR
(``espnet_echo.metrics.sisdr.score_separation``, the scorer of stage 8), the two oracles
of ``espnet_echo.metrics.oracle_separation``:

* ``gate``: the mixture multiplied by the source's oracle activity from ``rttm``, on
  frames of ``--frame_sec`` (40 ms = the encoders' frame). This is the best a separator
  can do that only decides *who speaks when* (perfect diarization, no separation inside
  overlaps or noise removal).
* ``ibm``: the ideal binary mask on a 32 ms / 16 ms STFT (the source dominates the rest of
  the mixture in that bin), the usual ceiling of mask-based separation.

Prints the mean SI-SDRi over all sources and per number of speakers K.
"""

import argparse
from collections import defaultdict
from typing import Dict, List

import numpy as np

from espnet_echo.data.datadir import load_data_dir
from espnet_echo.metrics.oracle_separation import activity_gate, ideal_binary_masks
from espnet_echo.metrics.sisdr import score_separation


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data_dir")
    p.add_argument("--frame_sec", type=float, default=0.04, help="Gating frame (s).")
    p.add_argument("--max_utts", type=int, default=None, help="Score only the first N.")
    args = p.parse_args()

    ddir = load_data_dir(args.data_dir)
    if (ddir.rttm is None and ddir.espnet_rttm is None) or ddir.utt2spks is None:
        raise SystemExit(f"{args.data_dir}: needs rttm (or espnet_rttm) and utt2spks")
    scores: Dict[str, Dict[int, List[float]]] = {
        "gate": defaultdict(list), "ibm": defaultdict(list)
    }
    utts = ddir.utts[: args.max_utts]
    for utt in utts:
        mix, cut = ddir.read_audio(utt)  # segments, pipes, arks, paths with spaces
        mix, fs = mix.astype(np.float64), cut.rate
        labels = ddir.labels(utt, cut, fs, len(mix))  # cut to the segment, source order
        speakers = labels.speakers
        num = len(speakers)
        refs = np.stack(
            [ddir.read_audio(utt, n + 1, fs=fs)[0].astype(np.float64) for n in range(num)]
        )
        frame = int(round(args.frame_sec * fs))
        turns = {spk: [] for spk in speakers}
        for t in labels.seconds:
            turns[t.spk].append((t.start, t.dur))
        gated = np.stack([activity_gate(mix, turns[spk], fs, frame) for spk in speakers])
        for name, ests in (("gate", gated), ("ibm", ideal_binary_masks(mix, refs, fs))):
            scores[name][num].extend(score_separation(refs, ests, mix).si_sdri.tolist())

    print(f"data={args.data_dir} utts={len(utts)} "
          f"gate frame={args.frame_sec * 1000:.0f} ms")
    for name, by_k in scores.items():
        allv = [v for vs in by_k.values() for v in vs]
        per_k = "  ".join(
            f"K={k}: {np.mean(v):6.2f} dB ({len(v)} sources)" for k, v in sorted(by_k.items())
        )
        print(f"{name:5s} SI-SDRi {np.mean(allv):6.2f} dB over {len(allv)} sources   {per_k}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Training-step cost of an Echo config, whole model and per head.

Usage (from a recipe dir, after stage 3):
    python ../../../bench/train_step.py --config conf/train_echo.yaml \
        --token_list data/token_list/char/tokens.txt [--batch 8] [--seconds 4] [--spk 2]

Builds the model from the training config, runs forward + backward on random audio
(K speakers, 60 tokens each) and prints the median seconds per step for the full model and
for each head alone (encoder included), plus parameter counts.
"""

import argparse
import statistics
import time

import torch

from espnet_echo.tasks.echo import EchoTask


def make_batch(batch: int, samples: int, spk: int, slots: int, vocab: int):
    b = {
        "speech": torch.randn(batch, samples) * 0.1,
        "speech_lengths": torch.full((batch,), samples),
        "speech_ref": torch.randn(batch, samples, spk) * 0.05,
        "speech_ref_lengths": torch.full((batch,), samples),
        "spk_labels": torch.ones(batch, samples, spk),
        "spk_labels_lengths": torch.full((batch,), samples),
        "num_spk": torch.full((batch, 1), spk),
    }
    for s in range(1, slots + 1):
        length = 60 if s <= spk else 0
        b[f"text_spk{s}"] = (
            torch.randint(2, vocab - 1, (batch, length)) if length
            else torch.full((batch, 1), -1)
        )
        b[f"text_spk{s}_lengths"] = torch.full((batch,), length)
    return b


def time_steps(model, batch, runs: int) -> float:
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        loss, _, _ = model(**batch)
        loss.backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True)
    p.add_argument("--token_list", required=True)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--spk", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    base = ["--config", args.config, "--token_list", args.token_list, "--token_type", "char"]
    heads = ("diar_head", "sep_head", "asr_head")
    variants = {"full": []}
    for h in heads:
        variants[h] = sum(([f"--{o}", "none"] for o in heads if o != h), [])
    print(f"config={args.config} batch={args.batch} x {args.seconds}s, K={args.spk}, "
          f"threads={args.threads}")
    for name, extra in variants.items():
        targs = EchoTask.get_parser().parse_args(base + extra)
        model = EchoTask.build_model(targs).train()
        batch = make_batch(args.batch, int(args.seconds * 16000), args.spk, targs.num_spk,
                           len(targs.token_list))
        sec = time_steps(model, batch, args.runs)
        params = {k: sum(q.numel() for q in v.parameters()) for k, v in model.heads.items()}
        audio = args.batch * args.seconds
        print(f"{name:10s} {sec:7.2f} s/step  {audio / sec:6.1f} s audio/s  head params {params}")


if __name__ == "__main__":
    main()

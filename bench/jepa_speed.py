#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""JEPA pretraining throughput, and the share of step time spent in EMA and masking.

Usage (from the repository root):
    python bench/jepa_speed.py [--batch 8] [--seconds 4] [--steps 4] [--threads 2]

Builds ``ESPnetJEPAModel`` through ``JEPATask`` for a tiny echo_vit (32-d, 2 blocks) and
for ``conf/encoder/echo_25m.yaml`` (80 mels, 10 ms hop), runs ``--steps`` training steps
(forward + backward + Adam) on random audio after one warm-up step, and prints seconds of
audio per second of step time plus the share of the step spent in the EMA target update
and in drawing the token mask (each timed with ``time.perf_counter`` around the call).
"""

import argparse
import statistics
import time
from pathlib import Path

import torch
import yaml

from espnet_echo.ssl import espnet_model as jepa_model
from espnet_echo.tasks.jepa import JEPATask

REPO = Path(__file__).resolve().parents[1]
FRONTEND = ["--frontend_conf", "n_fft=512", "--frontend_conf", "win_length=400",
            "--frontend_conf", "hop_length=160", "--frontend_conf", "n_mels=80",
            "--normalize", "utterance_mvn"]
TINY = ["--encoder", "echo_vit", "--encoder_conf", "output_size=32",
        "--encoder_conf", "num_blocks=2", "--encoder_conf", "attention_heads=2",
        "--encoder_conf", "linear_units=64", "--predictor_conf", "output_size=32",
        "--predictor_conf", "attention_heads=2", "--predictor_conf", "linear_units=64",
        "--predictor_conf", "num_blocks=1"]


class Timed:
    """Wrap a callable and accumulate its wall time."""

    def __init__(self, func):
        self.func, self.total = func, 0.0

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        out = self.func(*args, **kwargs)
        self.total += time.perf_counter() - start
        return out


def conf_args(path: Path):
    conf = yaml.safe_load(path.read_text())
    out = ["--encoder", conf["encoder"]]
    for k, v in conf["encoder_conf"].items():
        out += ["--encoder_conf", f"{k}={v}"]
    return out


def bench(name, extra, args) -> None:
    targs = JEPATask.get_parser().parse_args(FRONTEND + extra)
    model = JEPATask.build_model(targs).train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    samples = int(args.seconds * 16000)
    speech = torch.randn(args.batch, samples) * 0.1
    lengths = torch.full((args.batch,), samples)
    ema = Timed(jepa_model.ema_update_)
    jepa_model.ema_update_ = ema
    masker = Timed(model.masker)
    model.masker = masker
    steps = []
    try:
        for i in range(args.steps + 1):
            if i == 1:
                ema.total = masker.total = 0.0
            start = time.perf_counter()
            loss, _, _ = model(speech=speech, speech_lengths=lengths)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if i:
                steps.append(time.perf_counter() - start)
    finally:
        jepa_model.ema_update_ = ema.func
    total = sum(steps)
    params = sum(p.numel() for p in model.encoder.parameters())
    print(f"{name:10s} encoder {params:>11,} params  {statistics.median(steps):6.3f} s/step  "
          f"{args.batch * args.seconds / statistics.median(steps):7.1f} s audio/s  "
          f"EMA {100 * ema.total / total:5.2f} %  masking {100 * masker.total / total:5.2f} %")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"batch={args.batch} x {args.seconds}s, {args.steps} steps, threads={args.threads}")
    bench("tiny", TINY, args)
    bench("echo_25m", conf_args(REPO / "conf" / "encoder" / "echo_25m.yaml"), args)


if __name__ == "__main__":
    main()

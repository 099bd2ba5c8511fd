#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0

"""Encode and decode real-time factors of the JEPA + DAAM tokenizer on CPU.

Codecs are built from the recipe configs (``egs2/mini_mix/codec1/conf/train_codec.yaml``,
the mini codec, and ``conf/tuning/train_codec_paper.yaml``, the paper-size one) with
random weights (seed 0: speed does not depend on the weights), or from
``--config/--model_file`` of a trained codec.

Protocol: one process, ``torch.set_num_threads(--threads)`` (default 2), one inter-op
thread, ``OMP_WAIT_POLICY=PASSIVE`` unless set in the environment (as
``bench/encoder_speed.py``: on a shared machine, spinning OpenMP barriers with busy cores
make 2 threads some 25x slower than 1), ``torch.inference_mode`` on ``eval()`` models,
batch size 1, the audio a ``--seconds`` long (default 20 s) speech-like signal (harmonics + syllable-rate AM +
noise; speed does not depend on content). One untimed warm-up pass each, then
``--runs`` timed passes (``time.perf_counter``) of

* encode: waveform -> tokens (frontend, JEPA + DAAM encoder, gate, downsampling, FSQ);
* decode: tokens -> waveform (FSQ dequantisation, upsampling, HiFi-GAN);

RTF = median time / audio duration. Prints one line per codec and stage.

Example:
    OMP_NUM_THREADS=2 python bench/codec_rtf.py
"""

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "egs2" / "mini_mix" / "codec1" / "conf"


def speechlike(n: int, fs: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(n) / fs
    phase = 2 * np.pi * np.cumsum(120 + 40 * np.sin(2 * np.pi * 0.7 * t)) / fs
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    am = 0.5 * (1 + np.sin(2 * np.pi * 4 * t))
    return (0.2 * am * x / np.abs(x).max() + 0.003 * rng.standard_normal(n)).astype(np.float32)


def build(config: Path):
    from espnet_echo.codec.jepa_fsq import JEPAFSQGenerator

    with open(config) as f:
        conf = yaml.safe_load(f)
    gp = conf["codec_conf"]["generator_params"]
    torch.manual_seed(0)
    return JEPAFSQGenerator(fs=conf["codec_conf"].get("sampling_rate", 16000), **gp).eval()


def timed(fn, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--config", help="config.yaml of a trained codec (with --model_file)")
    p.add_argument("--model_file")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    if args.config:
        from espnet_echo.codec.inference import CodecRunner

        runner = CodecRunner.from_files(args.config, args.model_file)
        codecs = {Path(args.config).parent.name: runner.generator}
    else:
        codecs = {
            "mini (train_codec.yaml)": build(RECIPE / "train_codec.yaml"),
            "paper (tuning/train_codec_paper.yaml)": build(
                RECIPE / "tuning" / "train_codec_paper.yaml"
            ),
        }
    x = torch.from_numpy(speechlike(int(args.seconds * 16000)))[None]
    print(
        f"threads={args.threads} (OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}) "
        f"audio={args.seconds:g} s runs={args.runs} (median)"
    )
    with torch.inference_mode():
        for name, g in codecs.items():
            tokens = g.encode(x)
            enc = timed(lambda: g.encode(x), args.runs)
            dec = timed(lambda: g.decode(tokens), args.runs)
            tps = g.packer.tokens_per_second(g.frame_rate_hz)
            print(
                f"{name}: {g.frame_rate_hz:g} Hz, {tps:g} tokens/s, "
                f"{g.packer.bitrate(g.frame_rate_hz):.1f} bit/s "
                f"| encode RTF {enc / args.seconds:.4f} | decode RTF {dec / args.seconds:.4f}"
            )


if __name__ == "__main__":
    main()

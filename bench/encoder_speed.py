#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0  (http://www.apache.org/licenses/LICENSE-2.0)

"""CPU inference speed and memory of the Echo-25M encoder vs E-Branchformer baselines.

Encoders are built from the shipped YAML snippets in ``conf/encoder/`` (random
weights, seed 0, ``input_size=80``):

* ``echo_25m``: the Echo ViT (``encoder: echo_vit``);
* ``ebf_25m``: an E-Branchformer with Echo-25M's parameter count (OWSM v3.1 layout);
* ``owsm_v3.1_medium``: the OWSM v3.1 medium encoder layout (1024-d, 18 blocks).

Input: a random (1, T, 80) log-mel tensor at 100 frames/s, so the frontend
(STFT + log-mel + GlobalMVN) is *excluded*; batch size 1; ``ilens = [T]``.

Protocol. Each encoder runs in its own fresh Python process:

1. build the encoder, ``eval()``; everything below runs under ``torch.inference_mode``;
2. warm-up: one forward pass on a 10 s input (untimed, so the 10 s cell is warmed up
   on its own shape; longer cells reuse the warmed-up kernels and thread pool);
3. for each duration, shortest first: timed forward passes (``time.perf_counter``)
   until ``--max-runs`` passes are done or the next pass would exceed
   ``--cell-budget`` seconds (at least one pass); the reported time is the median
   and RTF = median time / audio duration;
4. memory: peak resident set size increase during the first timed pass of each
   duration. glibc's ``malloc_trim(0)`` first returns freed heap pages, then the
   kernel's RSS high-water mark is reset (``/proc/self/clear_refs`` <- 5); the figure
   is ``VmHWM - VmRSS`` from ``/proc/self/status``. It counts every native allocation
   (activations, attention matrices, masks, oneDNN scratch), which ``tracemalloc``
   (Python allocations only) would miss. Without permission for the reset it falls
   back to ``ru_maxrss`` minus the RSS before the pass (an upper bound).

Cells longer than 60 s are skipped when less than ``--min-avail-gb`` of memory is
available (the E-Branchformer stores every layer's (heads, T, T) attention matrix).

``torch.set_num_threads(--threads)`` (default 2), one inter-op thread. The machine's
load average is printed before and after, since other processes may share the CPU.

Usage: ``python bench/encoder_speed.py`` (about 3-5 min on 2 cores; most of it is
the E-Branchformer at 300 s and the medium encoder at 60 s). Smoke test:
``python bench/encoder_speed.py --echo echo_tiny --ebf ebf_tiny --durations 2 \
--medium-durations``.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONF_DIR = REPO / "conf" / "encoder"
FEATS_PER_SECOND = 100
INPUT_SIZE = 80
WARMUP_SECONDS = 10.0

LABELS = {
    "echo_25m": "Echo-25M (ViT)",
    "ebf_25m": "E-Branchformer 25M",
    "owsm_v3.1_medium": "OWSM v3.1 medium enc.",
}


# --------------------------------------------------------------------------- child
def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _reset_hwm() -> bool:
    try:
        # Hand freed heap pages back first, so the pass must fault in what it uses.
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def build_encoder(name: str):
    """Build ``conf/encoder/<name>.yaml`` with input_size=80 (random weights)."""
    import torch
    import yaml

    from espnet2.asr.encoder.e_branchformer_encoder import EBranchformerEncoder
    from espnet_echo.encoder.echo_vit import EchoViTEncoder

    classes = {"echo_vit": EchoViTEncoder, "e_branchformer": EBranchformerEncoder}
    with open(CONF_DIR / f"{name}.yaml") as f:
        conf = yaml.safe_load(f)
    torch.manual_seed(0)
    return classes[conf["encoder"]](input_size=INPUT_SIZE, **conf["encoder_conf"])


def _mem_available_gb() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    return float("inf")


def run_encoder(name, durations, threads, max_runs, budget, min_avail_gb):
    """Measure one encoder at several durations in this process; yields dicts."""
    import logging

    logging.disable(logging.WARNING)
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)

    t0 = time.perf_counter()
    encoder = build_encoder(name).eval()
    build_s = time.perf_counter() - t0
    params = sum(p.numel() for p in encoder.parameters())

    def make_input(sec):
        nframes = int(round(sec * FEATS_PER_SECOND))
        g = torch.Generator().manual_seed(1)
        return torch.randn(1, nframes, INPUT_SIZE, generator=g), torch.tensor([nframes])

    with torch.inference_mode():
        t0 = time.perf_counter()
        encoder(*make_input(WARMUP_SECONDS))  # warm-up
        warmup_s = time.perf_counter() - t0

        for seconds in durations:
            base = dict(name=name, seconds=seconds, params=params, build_s=build_s,
                        warmup_s=warmup_s)
            avail = _mem_available_gb()
            if seconds > 60 and avail < min_avail_gb:
                yield dict(base, error=f"skipped: {avail:.1f} GB available < "
                           f"{min_avail_gb} GB (--min-avail-gb)")
                continue
            xs, ilens = make_input(seconds)
            times = []
            exact = _reset_hwm()
            rss0 = _status_kb("VmRSS")
            t = time.perf_counter()
            out, olens, _ = encoder(xs, ilens)
            times.append(time.perf_counter() - t)
            if exact:
                peak_kb = _status_kb("VmHWM") - rss0
            else:
                peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0
            tokens = int(olens[0])
            del out
            while len(times) < max_runs and sum(times) + times[-1] <= budget:
                t = time.perf_counter()
                encoder(xs, ilens)
                times.append(time.perf_counter() - t)
            median = statistics.median(times)
            yield dict(
                base,
                tokens=tokens,
                runs=len(times),
                times=times,
                median_s=median,
                rtf=median / seconds,
                peak_rss_mb=peak_kb / 1024,
                rss_method="VmHWM-reset" if exact else "ru_maxrss",
                threads=torch.get_num_threads(),
                torch=torch.__version__,
            )


# -------------------------------------------------------------------------- parent
def spawn_encoder(args, name, durations):
    """Run one encoder's cells in a fresh process; returns a list of dicts."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name]
    cmd += [str(d) for d in durations]
    cmd += ["--threads", str(args.threads), "--max-runs", str(args.max_runs)]
    cmd += ["--cell-budget", str(args.cell_budget)]
    cmd += ["--min-avail-gb", str(args.min_avail_gb)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    results = []
    t0 = time.perf_counter()
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as proc:
        for line in proc.stdout:
            if not line.startswith("RESULT "):
                continue
            r = json.loads(line[len("RESULT ") :])
            results.append(r)
            extra = r.get("error") or "times " + " ".join(
                f"{t:.3f}" for t in r["times"]
            )
            print(f"  {name} @ {r['seconds']:.0f}s (t={time.perf_counter() - t0:.0f}s,"
                  f" build {r['build_s']:.1f}s, warm-up {r['warmup_s']:.2f}s): {extra}",
                  flush=True)
        err = proc.stderr.read()
    done = {r["seconds"] for r in results}
    for d in durations:
        if d not in done:  # crashed (e.g. killed for memory)
            tail = " | ".join(err.strip().splitlines()[-2:]) or f"rc {proc.returncode}"
            results.append(dict(name=name, seconds=d, error=f"failed: {tail}"))
    return results


def fmt_row(r):
    label = LABELS.get(r["name"], r["name"])
    if "error" in r:
        return f"| {label:<22} | {r['seconds']:>5.0f} | {r['error'][:90]} |"
    return (
        f"| {label:<22} | {r['seconds']:>5.0f} | {r['params'] / 1e6:>8.2f} | "
        f"{r['tokens']:>6d} | {r['runs']:>4d} | {r['median_s']:>9.3f} | "
        f"{r['rtf']:>7.4f} | {1 / r['rtf']:>8.1f} | {r['peak_rss_mb']:>9.0f} |"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", nargs="+", metavar="CONFIG SECONDS")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-runs", type=int, default=5)
    parser.add_argument(
        "--cell-budget",
        type=float,
        default=6.0,
        help="stop timing a cell once another run would exceed this many seconds",
    )
    parser.add_argument(
        "--min-avail-gb",
        type=float,
        default=13.0,
        help="skip cells longer than 60 s when less memory than this is available "
        "(E-Branchformer at 300 s peaks at about 10.5 GB)",
    )
    parser.add_argument("--echo", default="echo_25m")
    parser.add_argument("--ebf", default="ebf_25m")
    parser.add_argument("--medium", default="owsm_v3.1_medium")
    parser.add_argument("--durations", type=float, nargs="+", default=[10, 60, 300])
    parser.add_argument(
        "--medium-durations",
        type=float,
        nargs="*",
        default=[10, 60],
        help="durations for the medium encoder (empty list: skip it)",
    )
    args = parser.parse_args()

    if args.child:
        for res in run_encoder(
            args.child[0],
            [float(d) for d in args.child[1:]],
            args.threads,
            args.max_runs,
            args.cell_budget,
            args.min_avail_gb,
        ):
            print("RESULT " + json.dumps(res), flush=True)
        return

    t_start = time.perf_counter()
    load0 = os.getloadavg()
    print(
        f"encoder_speed: CPU inference, batch 1, {args.threads} torch threads, "
        f"input = (1, T, {INPUT_SIZE}) log-mel at {FEATS_PER_SECOND} frames/s "
        "(frontend excluded), random weights"
    )
    print(f"load average before: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} "
          f"on {os.cpu_count()} CPUs")
    results = []
    results += spawn_encoder(args, args.echo, args.durations)
    results += spawn_encoder(args, args.ebf, args.durations)
    if args.medium_durations:
        results += spawn_encoder(args, args.medium, args.medium_durations)
    print()
    print(
        "| encoder                | in s  | params M | tokens | runs | median s  |"
        "   RTF   | x realtime | peak RSS MB |"
    )
    print("|" + "|".join(["---"] * 9) + "|")
    for r in results:
        print(fmt_row(r))
    ok = [r for r in results if "error" not in r]
    if ok:
        print(
            f"\nRTF = median time / audio duration; x realtime = 1 / RTF. peak RSS = "
            f"resident-set increase during the first timed pass ({ok[0]['rss_method']})"
            f"; torch {ok[0]['torch']}."
        )

    by = {(r["name"], r["seconds"]): r for r in ok}
    print("\nThroughput ratios (RTF_other / RTF_echo):")
    goals = {(args.ebf, 10.0): 3.0, (args.ebf, 60.0): 5.0}
    for other in (args.ebf, args.medium):
        for sec in sorted({s for n, s in by if n == other}):
            if (args.echo, sec) not in by:
                continue
            ratio = by[(other, sec)]["rtf"] / by[(args.echo, sec)]["rtf"]
            goal = goals.get((other, sec), 20.0 if other == args.medium else None)
            verdict = ""
            if goal is not None:
                met = "met" if ratio >= goal else "NOT met"
                verdict = f"  (goal >= {goal:.0f}x: {met})"
            print(f"  Echo vs {LABELS.get(other, other)} @ {sec:.0f}s: {ratio:6.2f}x"
                  f"{verdict}")
    load1 = os.getloadavg()
    print(f"\nload average after: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}; "
          f"bench wall time {time.perf_counter() - t_start:.0f}s")


if __name__ == "__main__":
    main()

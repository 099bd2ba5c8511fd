#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0

"""CPU inference speed and memory of the Echo-25M encoder vs E-Branchformer baselines.

Encoders are built from the shipped YAML snippets in ``conf/encoder/`` (random
weights, seed 0, ``input_size=80``):

* ``echo_25m``: the Echo ViT (``encoder: echo_vit``);
* ``ebf_25m``: an E-Branchformer with Echo-25M's parameter count (OWSM v3.1 layout);
* ``owsm_v3.1_medium``: the OWSM v3.1 medium encoder layout (1024-d, 18 blocks).

Input: a random (1, T, 80) log-mel tensor at 100 frames/s, so the frontend
(STFT + log-mel + GlobalMVN) is *excluded*; batch size 1; ``ilens = [T]``.

Protocol (one process, ``torch.set_num_threads(--threads)``, default 2, one inter-op
thread, ``OMP_WAIT_POLICY=PASSIVE`` unless set in the environment; everything under
``torch.inference_mode`` on ``eval()`` encoders):

1. build all encoders; warm-up: one untimed forward pass of each on a 10 s input
   (the 10 s cells are thus warmed up on their own shape);
2. for each duration, shortest first, timed passes (``time.perf_counter``) are
   *interleaved* round-robin across the encoders (Echo, E-Branchformer, medium,
   Echo, ...), so that load from other processes hits all encoders alike. An
   encoder stops at ``--max-runs`` passes or when its next pass would take it past
   ``--cell-budget`` seconds (at least one pass). Time = median of its passes;
   RTF = time / audio duration; throughput ratio = RTF_other / RTF_echo;
3. memory: peak resident set size increase during an encoder's first timed pass at
   each duration. glibc's ``malloc_trim(0)`` first returns freed heap pages, then
   the kernel's RSS high-water mark is reset (``/proc/self/clear_refs`` <- 5); the
   figure is ``VmHWM - VmRSS`` from ``/proc/self/status``. It counts every native
   allocation (activations, attention matrices, masks, oneDNN scratch), which
   ``tracemalloc`` (Python allocations only) would miss. Without permission for the
   reset it falls back to ``ru_maxrss`` minus the RSS before the pass (an upper
   bound, marked ``*``).

Cells longer than 60 s are skipped when less than ``--min-avail-gb`` of memory is
available (ESPnet's E-Branchformer keeps every layer's (heads, T, T) attention
matrix; it peaks at about 10.5 GB for 300 s).

The machine's load average is printed before and after: on a shared machine the
absolute times are inflated, the interleaved ratios much less so.

Usage: ``python bench/encoder_speed.py`` (about 4 min on 2 shared cores; most of it
is the E-Branchformer at 300 s and the medium encoder at 60 s). Smoke test:
``python bench/encoder_speed.py --echo echo_tiny --ebf ebf_tiny --durations 2
--medium-durations``.
"""

import os

# Must precede the OpenMP runtime start (import torch). With the default (spinning)
# policy and 2 threads on a CPU that other processes also use, every parallel region
# waits for a descheduled worker: a 50x64 Linear took 7.5 ms instead of 0.03 ms here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import ctypes  # noqa: E402
import logging  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import yaml  # noqa: E402

from espnet2.asr.encoder.e_branchformer_encoder import EBranchformerEncoder  # noqa
from espnet_echo.encoder.echo_vit import EchoViTEncoder  # noqa: E402

CONF_DIR = Path(__file__).resolve().parents[1] / "conf" / "encoder"
FEATS_PER_SECOND = 100
INPUT_SIZE = 80
WARMUP_SECONDS = 10.0
ENCODER_CLASSES = {"echo_vit": EchoViTEncoder, "e_branchformer": EBranchformerEncoder}
LABELS = {
    "echo_25m": "Echo-25M (ViT)",
    "ebf_25m": "E-Branchformer 25M",
    "owsm_v3.1_medium": "OWSM v3.1 medium enc.",
}


def build_encoder(name: str) -> torch.nn.Module:
    """Build ``conf/encoder/<name>.yaml`` with input_size=80 and random weights."""
    with open(CONF_DIR / f"{name}.yaml") as f:
        conf = yaml.safe_load(f)
    torch.manual_seed(0)
    cls = ENCODER_CLASSES[conf["encoder"]]
    return cls(input_size=INPUT_SIZE, **conf["encoder_conf"]).eval()


def make_input(seconds: float):
    """Random log-mel features (1, T, 80) and lengths (1,) for `seconds` of audio."""
    nframes = int(round(seconds * FEATS_PER_SECOND))
    gen = torch.Generator().manual_seed(1)
    return torch.randn(1, nframes, INPUT_SIZE, generator=gen), torch.tensor([nframes])


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _mem_available_gb() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    return float("inf")


def _reset_hwm() -> bool:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def timed_pass(encoder, xs, ilens, measure_memory: bool):
    """One forward pass; returns (seconds, tokens, peak RSS increase MB or None)."""
    if measure_memory:
        exact = _reset_hwm()
        rss0 = _status_kb("VmRSS")
    t0 = time.perf_counter()
    out, olens, _ = encoder(xs, ilens)
    elapsed = time.perf_counter() - t0
    peak = None
    if measure_memory:
        if exact:
            peak = (_status_kb("VmHWM") - rss0) / 1024
        else:
            peak = -(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    del out
    return elapsed, int(olens[0]), peak


def measure_duration(encoders, seconds, args):
    """Interleaved timing of several encoders at one duration; returns result dicts."""
    res = {}
    for name, enc in encoders.items():
        res[name] = dict(name=name, seconds=seconds, times=[])
        res[name]["params"] = sum(p.numel() for p in enc.parameters())
        if seconds > 60 and _mem_available_gb() < args.min_avail_gb:
            res[name]["error"] = (
                f"skipped: {_mem_available_gb():.1f} GB available < "
                f"--min-avail-gb {args.min_avail_gb:g}"
            )
    xs, ilens = make_input(seconds)
    active = [n for n in encoders if "error" not in res[n]]
    while active:
        for name in list(active):
            r = res[name]
            first = not r["times"]
            elapsed, tokens, peak = timed_pass(encoders[name], xs, ilens, first)
            r["times"].append(elapsed)
            if first:
                r["tokens"], r["peak_rss_mb"] = tokens, peak
            spent = sum(r["times"])
            if len(r["times"]) >= args.max_runs or spent + elapsed > args.cell_budget:
                active.remove(name)
    for r in res.values():
        if r["times"]:
            r["median_s"] = statistics.median(r["times"])
            r["rtf"] = r["median_s"] / seconds
    return list(res.values())


def fmt_row(r) -> str:
    label = LABELS.get(r["name"], r["name"])
    head = f"| {label:<22} | {r['seconds']:>5.0f} | {r['params'] / 1e6:>8.2f} |"
    if "error" in r:
        return f"{head} {r['error']} |"
    mem = r["peak_rss_mb"]
    mem_s = f"{mem:>9.0f}" if mem >= 0 else f"{-mem:>8.0f}*"
    return (
        f"{head} {r['tokens']:>6d} | {len(r['times']):>4d} | {r['median_s']:>9.3f} | "
        f"{r['rtf']:>7.4f} | {1 / r['rtf']:>8.1f} | {mem_s} |"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-runs", type=int, default=7)
    parser.add_argument(
        "--cell-budget",
        type=float,
        default=6.0,
        help="an encoder stops timing a duration when its next pass would take its "
        "total past this many seconds (it always gets one pass)",
    )
    parser.add_argument(
        "--min-avail-gb",
        type=float,
        default=13.0,
        help="skip durations over 60 s when less memory than this is available",
    )
    parser.add_argument("--echo", default="echo_25m", help="conf/encoder/<name>.yaml")
    parser.add_argument("--ebf", default="ebf_25m", help="conf/encoder/<name>.yaml")
    parser.add_argument(
        "--medium", default="owsm_v3.1_medium", help="conf/encoder/<name>.yaml"
    )
    parser.add_argument("--durations", type=float, nargs="+", default=[10, 60, 300])
    parser.add_argument(
        "--medium-durations",
        type=float,
        nargs="*",
        default=[10, 60],
        help="durations for the medium encoder (none: skip it)",
    )
    args = parser.parse_args()

    logging.disable(logging.WARNING)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    t_start = time.perf_counter()
    load0 = os.getloadavg()
    print(
        f"encoder_speed: CPU inference, batch 1, {torch.get_num_threads()} torch "
        f"threads (OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}), torch "
        f"{torch.__version__}; input = (1, T, {INPUT_SIZE}) log-mel at "
        f"{FEATS_PER_SECOND} frames/s (frontend excluded); random weights"
    )
    print(
        f"load average before: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} "
        f"on {os.cpu_count()} CPUs"
    )

    names = [args.echo, args.ebf] + ([args.medium] if args.medium_durations else [])
    encoders = {}
    with torch.inference_mode():
        for name in names:
            t0 = time.perf_counter()
            encoders[name] = build_encoder(name)
            t1 = time.perf_counter()
            encoders[name](*make_input(WARMUP_SECONDS))
            print(
                f"  built {name} in {t1 - t0:.1f}s, warm-up (10 s input) "
                f"{time.perf_counter() - t1:.2f}s",
                flush=True,
            )

        results = []
        for sec in sorted(set(args.durations) | set(args.medium_durations)):
            todo = {}
            for n, e in encoders.items():
                wanted = args.medium_durations if n == args.medium else args.durations
                if sec in wanted:
                    todo[n] = e
            for r in measure_duration(todo, sec, args):
                results.append(r)
                extra = r.get("error") or " ".join(f"{t:.3f}" for t in r["times"])
                print(f"  {r['name']} @ {sec:.0f}s: {extra}", flush=True)

    print()
    print(
        "| encoder                | in s  | params M | tokens | runs | median s  |"
        "   RTF   | x realtime | peak RSS MB |"
    )
    print("|" + "|".join(["---"] * 9) + "|")
    order = {n: i for i, n in enumerate(names)}
    results.sort(key=lambda r: (order[r["name"]], r["seconds"]))
    for r in results:
        print(fmt_row(r))
    print(
        "\nRTF = median time / audio duration; x realtime = 1 / RTF; peak RSS = "
        "resident-set increase during the first timed pass (VmHWM after reset; "
        "* = ru_maxrss fallback)."
    )

    by = {(r["name"], r["seconds"]): r for r in results if "error" not in r}
    goals = {(args.ebf, 10.0): 3.0, (args.ebf, 60.0): 5.0}
    print("\nThroughput ratios (RTF_other / RTF_echo):")
    for other in names[1:]:
        for sec in sorted(s for n, s in by if n == other):
            if (args.echo, sec) not in by:
                continue
            ratio = by[(other, sec)]["rtf"] / by[(args.echo, sec)]["rtf"]
            goal = goals.get((other, sec), 20.0 if other == args.medium else None)
            verdict = ""
            if goal is not None:
                met = "met" if ratio >= goal else "NOT met"
                verdict = f"  (goal >= {goal:.0f}x: {met})"
            label = LABELS.get(other, other)
            print(f"  Echo vs {label} @ {sec:.0f}s: {ratio:6.2f}x{verdict}")
    load1 = os.getloadavg()
    print(
        f"\nload average after: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}; "
        f"bench wall time {time.perf_counter() - t_start:.0f}s"
    )


if __name__ == "__main__":
    main()

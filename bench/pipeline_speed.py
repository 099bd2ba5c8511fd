#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0

"""Whole-pipeline CPU inference speed vs the machine's peak: fp32 / bf16 / int8.

What is timed: :class:`espnet_echo.inference.speech2echo.Speech2Echo` ``__call__`` on
one recording (waveform in, ``EchoResult`` out: frontend, encoder, heads, the
post-processing policy), default options (``diar_mode eend``, greedy CTC, chunks of
``chunk_s`` 10 s every 5 s), for each model x precision x duration x chunk batch:

* models: trained mini models when present (run from ``egs2/mini_mix/echo1``: the
  configs hold recipe-relative stats paths): ``exp/echo_train_echo`` (Echo ViT
  encoder) and ``exp/echo_train_ume_ebf`` (E-Branchformer), ``config.yaml`` +
  ``valid.loss.best.pth``; a model without its checkpoint is random-initialised from
  its config (seed 0; said in the output);
* precision: ``float32``, ``bfloat16`` (``--dtype bfloat16``: autocast, fp32 islands;
  :mod:`espnet_echo.inference.precision`), ``int8`` (``--quantize int8``: dynamic
  int8 ``nn.Linear``);
* audio: 10 s, 60 s and 10 min, made by **concatenating the mixtures of
  ``--data_dir``** (the mini test split, in ``wav.scp`` order, cycled) and cut to the
  duration (white noise x 0.1, seed 0, when the dir is missing; said in the output);
* chunk batch: 1 and ``--batch`` for recordings longer than ``chunk_s`` (a 10 s
  recording is one pass).

**Which heads run.** A recording of at most ``chunk_s`` runs every head the policy
reads (diarization, separation, ASR): the 10 s rows are the all-heads cost of one
chunk. A longer recording runs **only the diarization head** in chunks (eend mode;
``vbx`` would add the speaker head): separation and ASR of long audio are not built
yet (a later issue), so the 60 s / 10 min rows are not the cost of the whole
pipeline on long audio.

Protocol: one subprocess per (model, precision) (``--threads`` torch threads, one
inter-op thread, ``OMP_WAIT_POLICY=PASSIVE``), cells in order of duration: one
untimed warm-up call on the first ``min(D, 20 s)``, then timed calls
(``time.perf_counter``) up to ``--runs`` or ``--cell-budget`` seconds (at least
one); the figure is the median. Peak RSS per cell: ``VmHWM`` from
``/proc/self/status`` after a high-water-mark reset before the cell's first timed
call (``bench/encoder_speed.py``'s ``_reset_hwm``; the process's total peak
including the model and Python, and the increase over the RSS before the call).

FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` over one forward
(``Speech2Echo._infer``) of the fp32 model: all heads on the 10 s recording, and the
chunk heads on one ``chunk_s`` chunk; a chunked recording counts ``n_chunks`` x the
chunk (the last, shorter, chunk as a full one: an overestimate of < 1/n_chunks). The
same count is used for bf16 and int8 (same arithmetic; the counter does not see the
quantised ops). Post-processing (median filter, turns) and greedy CTC decoding are
not counted. GMAC/s = FLOPs / 2 / median time.

Machine peak, measured here with the same threads: the best of ``--peak-reps``
timings of a 2048 x 2048 x 2048 ``torch.matmul`` in fp32 and in bf16, and of a
dynamically quantised int8 ``nn.Linear`` (2048 -> 2048) on 2048 rows (the int8 path's
kernel); GMAC/s = 2048^3 / time. Each cell's share is its GMAC/s over the peak of
its own precision.

Encoder only: each model's encoder (inside the same subprocess, in the cell's
precision) on random (1, T, 80) features of 10 s and 60 s, timed with
``bench/encoder_speed.py``'s ``make_input`` / ``timed_pass`` (frontend excluded),
median of up to ``--runs``; the Echo vs E-Branchformer ratio is printed for every
precision pair.

The machine's load average is printed before and after: other processes on a
shared machine inflate the absolute times.

Usage (about 10 min on 2 shared cores): ``cd egs2/mini_mix/echo1 &&
OMP_NUM_THREADS=2 ../../../.venv/bin/python ../../../bench/pipeline_speed.py``.
Smoke test: ``--durations 3 12 --chunk_s 4 --batch 2 --peak-size 256``.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench/encoder_speed.py

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import encoder_speed  # noqa: E402  (shared timing/memory helpers of the encoder bench)

PRECISIONS = {  # label -> (dtype, quantize)
    "float32": ("float32", "none"),
    "bfloat16": ("bfloat16", "none"),
    "int8": ("float32", "int8"),
}
DEFAULT_MODELS = [
    "Echo=exp/echo_train_echo",
    "UME-EBF=exp/echo_train_ume_ebf",
]
ENCODER_SECONDS = (10.0, 60.0)


# ---------------------------------------------------------------------- helpers
def machine_facts() -> str:
    """CPU model name and its bf16/AMX/VNNI flags (from /proc/cpuinfo)."""
    name, flags = "?", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and name == "?":
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16",
              "amx_int8", "amx_tile")
    have = [f for f in wanted if f in flags]
    listed = " ".join(have) or f"none of {wanted}"
    return f"{name}; {os.cpu_count()} CPUs; flags: {listed}"


def _best_time(fn, reps: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure_peak(n: int, reps: int) -> dict:
    """Peak GMAC/s of n x n x n products: fp32 / bf16 matmul, int8 dynamic linear."""
    from espnet_echo.inference.precision import quantize_linear

    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen)
    b = torch.randn(n, n, generator=gen)
    out = {}
    with torch.inference_mode():
        for label, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
            x, y = a.to(dtype), b.to(dtype)
            out[label] = n**3 / _best_time(lambda: torch.matmul(x, y), reps) / 1e9
        lin = quantize_linear(torch.nn.Sequential(torch.nn.Linear(n, n, bias=False)))
        out["int8"] = n**3 / _best_time(lambda: lin(a), reps) / 1e9
    return out


def make_audio(seconds: float, data_dir: str, fs: int) -> tuple:
    """``seconds`` of the data dir's mixtures concatenated (cycled), or noise."""
    import soundfile

    n = int(round(seconds * fs))
    scp = Path(data_dir) / "wav.scp"
    if not scp.is_file():
        rng = np.random.RandomState(0)
        return (rng.randn(n) * 0.1).astype(np.float32), f"white noise x 0.1 ({scp} missing)"
    paths = [line.split(maxsplit=1)[1].strip() for line in scp.read_text().splitlines()]
    parts, total, i = [], 0, 0
    while total < n:
        wav, rate = soundfile.read(paths[i % len(paths)], dtype="float32")
        if rate != fs:
            raise ValueError(f"{paths[i % len(paths)]}: {rate} Hz, expected {fs}")
        parts.append(wav if wav.ndim == 1 else wav[:, 0])
        total += len(parts[-1])
        i += 1
    note = f"{min(i, len(paths))} mixtures of {data_dir} concatenated (cycled)"
    return np.concatenate(parts)[:n], note


def _model_files(spec: str, tmp: Path) -> tuple:
    """``label=dir`` -> (label, config, checkpoint, note); random init if no checkpoint."""
    label, _, d = spec.partition("=")
    d = Path(d)
    config, ckpt = d / "config.yaml", d / "valid.loss.best.pth"
    if not config.is_file():
        raise SystemExit(f"pipeline_speed: --models {spec}: no {config}")
    if ckpt.is_file():
        return label, str(config), str(ckpt), f"trained ({ckpt})"
    from espnet_echo.tasks.echo import EchoTask

    torch.manual_seed(0)
    model, _ = EchoTask.build_model_from_file(config, None, "cpu")
    ckpt = tmp / f"{label}_random.pth"
    torch.save(model.state_dict(), ckpt)
    note = f"random init from {config} (no {d}/valid.loss.best.pth)"
    return label, str(config), str(ckpt), note


# ----------------------------------------------------------------------- worker
def count_flops(echo, speech: np.ndarray, tasks) -> int:
    """FLOPs of one ``Speech2Echo._infer`` forward on ``speech`` with ``tasks``."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.from_numpy(speech)[None]
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        echo._infer(x, torch.tensor([x.shape[1]]), dict(echo.options, tasks=tasks))
    return int(counter.get_total_flops())


def run_worker(spec: dict) -> None:
    """One (model, precision): every cell, printed as ``CELL {json}`` lines."""
    from espnet_echo.inference.chunking import chunk_starts
    from espnet_echo.inference.precision import autocast
    from espnet_echo.inference.speech2echo import Speech2Echo

    logging.disable(logging.WARNING)
    torch.set_num_threads(spec["threads"])
    torch.set_num_interop_threads(1)
    dtype, quantize = PRECISIONS[spec["precision"]]

    def build(batch):
        return Speech2Echo(spec["config"], spec["ckpt"], dtype=dtype, quantize=quantize,
                           chunk_s=spec["chunk_s"], chunk_batch=batch)

    echo = build(1)
    fs = echo.fs
    chunk_sec = echo.chunk_samples / fs
    emit = lambda kind, **kw: print(f"{kind} " + json.dumps(kw), flush=True)  # noqa: E731
    emit("INFO", tasks=echo.tasks, chunk_tasks=echo.chunk_tasks, chunk_s=chunk_sec,
         hop_s=echo.chunk_hop_frames * echo.frame_sec,
         encoder_params=echo.encoder_params)
    if spec["count_flops"]:
        audio, _ = make_audio(chunk_sec, spec["data_dir"], fs)
        emit("FLOPS", all_heads_chunk=count_flops(echo, audio, echo.tasks),
             chunk_heads_chunk=count_flops(echo, audio, echo.chunk_tasks),
             chunk_seconds=chunk_sec)
    durations = sorted(spec["durations"])
    audio_all, source = make_audio(max(durations), spec["data_dir"], fs)
    emit("AUDIO", source=source)
    echoes = {1: echo}
    with torch.inference_mode():
        for seconds in durations:
            speech = audio_all[: int(round(seconds * fs))]
            chunked = len(speech) > echo.chunk_samples
            batches = [1] + ([spec["batch"]] if chunked and spec["batch"] > 1 else [])
            for batch in batches:
                if batch not in echoes:
                    echoes[batch] = build(batch)
                e = echoes[batch]
                e(speech[: int(min(seconds, 20.0) * fs)])  # warm-up
                n_chunks = len(chunk_starts(len(speech), e.chunk_samples,
                                            e.chunk_hop_frames * e.model.frame_shift,
                                            e.model.frame_shift)) if chunked else 1
                times, peak = [], None
                while True:
                    first = not times
                    if first:
                        exact = encoder_speed._reset_hwm()
                        rss0 = encoder_speed._status_kb("VmRSS")
                    t0 = time.perf_counter()
                    e(speech)
                    times.append(time.perf_counter() - t0)
                    if first:
                        hwm = encoder_speed._status_kb("VmHWM") if exact else None
                        peak = (hwm, rss0)
                    if (len(times) >= spec["runs"] or seconds > 120
                            or sum(times) + times[-1] > spec["cell_budget"]):
                        break
                emit("CELL", seconds=seconds, batch=batch, chunked=chunked,
                     n_chunks=n_chunks, times=times, median_s=statistics.median(times),
                     peak_kb=peak[0], rss0_kb=peak[1])
        # encoder only, in this precision (encoder_speed's input and timed pass)
        for seconds in ENCODER_SECONDS:
            xs, ilens = encoder_speed.make_input(seconds)
            n_mels = (echo.args.frontend_conf or {}).get("n_mels", encoder_speed.INPUT_SIZE)
            if n_mels != encoder_speed.INPUT_SIZE:  # (a smoke-test model)
                xs = torch.randn(1, xs.shape[1], n_mels, generator=torch.Generator()
                                 .manual_seed(1))
            enc_times = []
            with autocast(echo.dtype):
                encoder_speed.timed_pass(echo.model.encoder, xs[:, :1000], ilens.clamp(
                    max=1000), False)  # warm-up on <= 10 s
                for _ in range(spec["runs"]):
                    elapsed, _, _ = encoder_speed.timed_pass(
                        echo.model.encoder, xs, ilens, False)
                    enc_times.append(elapsed)
                    if sum(enc_times) > spec["cell_budget"]:
                        break
            flops = None
            if spec["count_flops"]:
                from torch.utils.flop_counter import FlopCounterMode

                with FlopCounterMode(display=False) as counter:
                    echo.model.encoder(xs, ilens)
                flops = int(counter.get_total_flops())
            emit("ENCODER", seconds=seconds, times=enc_times,
                 median_s=statistics.median(enc_times), flops=flops)


# ------------------------------------------------------------------------- main
def _run_subprocess(spec: dict) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "?"}
    res = {"CELL": [], "ENCODER": []}
    for line in proc.stdout.splitlines():
        kind, _, payload = line.partition(" ")
        if kind in ("CELL", "ENCODER"):
            res[kind].append(json.loads(payload))
        elif kind in ("INFO", "FLOPS", "AUDIO"):
            res[kind] = json.loads(payload)
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=DEFAULT_MODELS,
                   help="label=exp dir (config.yaml, valid.loss.best.pth)")
    p.add_argument("--precisions", nargs="+", default=list(PRECISIONS),
                   choices=list(PRECISIONS))
    p.add_argument("--durations", type=float, nargs="+", default=[10, 60, 600])
    p.add_argument("--batch", type=int, default=4, help="batched chunks per forward")
    p.add_argument("--chunk_s", type=float, default=10.0)
    p.add_argument("--data_dir", default="dump/raw/test")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--cell-budget", type=float, default=20.0)
    p.add_argument("--peak-size", type=int, default=2048)
    p.add_argument("--peak-reps", type=int, default=5)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        run_worker(json.loads(args.worker))
        return

    logging.disable(logging.WARNING)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    t_start = time.perf_counter()
    load0 = os.getloadavg()
    print(f"pipeline_speed: Speech2Echo end to end on CPU, {args.threads} torch threads "
          f"(OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}), torch {torch.__version__}")
    print(f"machine: {machine_facts()}")
    from espnet_echo.inference.precision import bf16_supported

    print(f"bf16 supported (oneDNN check): {bf16_supported()}")
    print(f"load average before: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    peak = measure_peak(args.peak_size, args.peak_reps)
    n = args.peak_size
    print(f"peak ({n}x{n}x{n}, best of {args.peak_reps}, GMAC/s): " + ", ".join(
        f"{k} {v:.1f}" for k, v in peak.items())
          + " (fp32/bf16: torch.matmul; int8: quantize_dynamic nn.Linear)")

    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"pipeline_speed_{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    results = {}
    for spec_str in args.models:
        label, config, ckpt, note = _model_files(spec_str, tmp)
        print(f"model {label}: {note}", flush=True)
        for prec in args.precisions:
            spec = dict(config=config, ckpt=ckpt, precision=prec, durations=args.durations,
                        batch=args.batch, chunk_s=args.chunk_s, data_dir=args.data_dir,
                        threads=args.threads, runs=args.runs, cell_budget=args.cell_budget,
                        count_flops=(prec == args.precisions[0]))
            t0 = time.perf_counter()
            res = results[label, prec] = _run_subprocess(spec)
            print(f"  {label} {prec}: {res.get('error', 'done')} "
                  f"({time.perf_counter() - t0:.0f}s)", flush=True)
    first = {label: results.get((label, args.precisions[0]), {}) for label, _ in results}
    info = next((r["INFO"] for r in results.values() if "INFO" in r), None)
    audio = next((r["AUDIO"]["source"] for r in results.values() if "AUDIO" in r), "?")
    print(f"\naudio: {audio}")
    if info:
        print(f"heads: a recording <= {info['chunk_s']:g} s runs {info['tasks']} in one "
              f"pass; a longer one runs only {info['chunk_tasks']} in chunks of "
              f"{info['chunk_s']:g} s every {info['hop_s']:g} s (separation and ASR of "
              "long audio are not built yet: those rows are NOT the whole pipeline)")
    print("\n| model | precision | audio s | heads | chunks | batch | runs | median s | RTF "
          "| peak RSS MB | +MB | GMAC | GMAC/s | % of peak |")
    print("|" + "---|" * 14)
    for (label, prec), res in results.items():
        if "error" in res:
            print(f"| {label} | {prec} | error: {res['error']} |")
            continue
        flops = first[label].get("FLOPS", {})
        for c in res["CELL"]:
            if c["chunked"]:
                f = flops.get("chunk_heads_chunk", 0) * c["n_chunks"]
                heads = "diar (chunked)"
            else:
                f = flops.get("all_heads_chunk", 0) * c["seconds"] / flops.get(
                    "chunk_seconds", c["seconds"])
                heads = "all"
            gmac = f / 2 / 1e9
            rate = gmac / c["median_s"]
            mem = f"{c['peak_kb'] / 1024:.0f}" if c["peak_kb"] else "?"
            inc = f"{(c['peak_kb'] - c['rss0_kb']) / 1024:.0f}" if c["peak_kb"] else "?"
            print(f"| {label} | {prec} | {c['seconds']:g} | {heads} | {c['n_chunks']} | "
                  f"{c['batch']} | {len(c['times'])} | {c['median_s']:.3f} | "
                  f"{c['median_s'] / c['seconds']:.4f} | {mem} | {inc} | {gmac:.3g} | "
                  f"{rate:.3g} | {100 * rate / peak[prec]:.2g} |")
    print("\nRows with heads=all (<= chunk_s, e.g. 10 s): the all-heads cost of one "
          "chunk (one pass). "
          "GMAC from the fp32 FlopCounterMode count (module docstring); % of peak is "
          "against the peak of the row's precision.")

    print("\nEncoder only (encoder_speed.make_input: random (1, T, 80) log-mel at 100 "
          "frames/s, frontend excluded; in the row's precision):")
    print("| model | precision | in s | runs | median s | RTF | GMAC/s | % of peak |")
    print("|" + "---|" * 8)
    enc = {}
    for (label, prec), res in results.items():
        for r in res.get("ENCODER", []):
            fl = next((x["flops"] for x in first[label].get("ENCODER", [])
                       if x["seconds"] == r["seconds"]), None)
            enc[label, prec, r["seconds"]] = r["median_s"]
            rate = fl / 2 / 1e9 / r["median_s"] if fl else float("nan")
            print(f"| {label} | {prec} | {r['seconds']:g} | {len(r['times'])} | "
                  f"{r['median_s']:.4f} | {r['median_s'] / r['seconds']:.5f} | "
                  f"{rate:.3g} | {100 * rate / peak[prec]:.2g} |")
    labels = list(dict.fromkeys(label for label, _ in results))
    if len(labels) >= 2:
        a, b = labels[0], labels[1]
        print(f"\nEncoder speed ratio time({b}) / time({a}), per precision pair "
              f"(rows: {a}'s precision, columns: {b}'s):")
        for seconds in ENCODER_SECONDS:
            for pa in args.precisions:
                cells = []
                for pb in args.precisions:
                    if (a, pa, seconds) in enc and (b, pb, seconds) in enc:
                        cells.append(f"{pb} {enc[b, pb, seconds] / enc[a, pa, seconds]:.2f}x")
                print(f"  @ {seconds:g} s, {a} {pa}: " + ", ".join(cells))
    load1 = os.getloadavg()
    print(f"\nload average after: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}; "
          f"bench wall time {time.perf_counter() - t_start:.0f}s")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Whole-pipeline speed and memory on a long simulated conversation (issue 13 bars).

    OMP_NUM_THREADS=2 .venv/bin/python bench/long_audio.py \\
        --model egs2/mini_mix/echo1/exp/echo_train_echo [--minutes 10 60] [--pyannote]

1. Simulates one conversation of ``max(--minutes)`` minutes with the project's
   simulator (conversation mode: ``--speakers`` speakers of the test voices who take
   turns and come back, ~12 % overlap, noise), unless it exists in ``--work_dir``.
   Shorter lengths are its first minutes (same audio, so the memory ratio compares
   like with like).
2. Runs ``echo_infer`` (diarization, separation, ASR; tracks, SegLST, RTTM) on each
   length in a fresh process with ``--num_threads`` threads, and records the
   process's peak RSS (``wait4``'s ``ru_maxrss``), the wall time and the pipeline's own
   processing time (model + post-processing, from ``<name>.json``: the RTF).
3. With ``--pyannote`` (needs ``bash bench/pyannote_env.sh`` once), runs
   ``bench/pyannote_rtf.py`` (pyannote.audio 4's diarization pipeline with the same
   architecture, random weights) on the same audio with the same threads, and reports
   the ratio of the two RTFs.

Prints a Markdown table and writes ``--out`` (JSON). One run each: timings vary by a
few per cent from run to run, more if anything else uses the CPUs.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import soundfile

ROOT = Path(__file__).resolve().parents[1]


def simulate(work: Path, minutes: float, speakers: int) -> Path:
    """The conversation WAV (simulated once)."""
    data = work / "data"
    scp = data / "test_conv" / "wav.scp"
    if not scp.is_file():
        cmd = [
            sys.executable, "-m", "espnet_echo.bin.simulate", "--out_dir", str(data),
            "--wav_dir", str(work / "wav"), "--num_train", "0", "--num_dev", "0",
            "--num_test", "0", "--num_test_conv", "1",
            "--conv_min_sec", str(minutes * 60), "--conv_max_sec", str(minutes * 60),
            "--conv_min_spk", str(speakers), "--conv_max_spk", str(speakers),
            "--seed", "7",
        ]
        print("simulating:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT)
    return Path(scp.read_text().split()[1])


def cut(wav: Path, minutes: float, work: Path) -> Path:
    """The first ``minutes`` of ``wav`` (written once)."""
    out = work / f"conv_{minutes:g}min.wav"
    if not out.is_file():
        info = soundfile.info(wav)
        n = int(minutes * 60 * info.samplerate)
        with soundfile.SoundFile(out, "w", info.samplerate, 1, subtype="PCM_16") as f:
            for block in soundfile.blocks(wav, blocksize=info.samplerate * 60, frames=n,
                                          dtype="float32"):
                f.write(block)
    return out


def run_measured(cmd, env=None) -> dict:
    """Run ``cmd``; its wall time and peak RSS (MB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(map(str, cmd))}")
    return dict(wall_s=round(wall, 2), peak_rss_mb=round(usage.ru_maxrss / 1024, 1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="egs2/mini_mix/echo1/exp/echo_train_echo")
    p.add_argument("--minutes", type=float, nargs="+", default=[10, 60])
    p.add_argument("--speakers", type=int, default=6)
    p.add_argument("--num_threads", type=int, default=2)
    p.add_argument("--work_dir", default="/tmp/echo_long_bench")
    p.add_argument("--pyannote", action="store_true",
                   help="also time pyannote.audio 4 (bench/.venv-pyannote)")
    p.add_argument("--pyannote_minutes", type=float, default=None,
                   help="length pyannote runs on (default: the shortest of --minutes)")
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                   help="more echo_infer options (after everything else)")
    p.add_argument("--out", default="bench/results/long_audio.json")
    args = p.parse_args()
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    full = simulate(work, max(args.minutes), args.speakers)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.num_threads))
    rows = []
    for minutes in sorted(args.minutes):
        wav = cut(full, minutes, work)
        out = work / f"echo_out_{minutes:g}"
        cmd = [sys.executable, "-m", "espnet_echo.bin.echo_infer", str(wav), "--model",
               args.model, "--output_dir", str(out), "--num_threads",
               str(args.num_threads), "--no_progress", "--log_level", "WARNING",
               *args.extra]
        m = run_measured(cmd, env)
        info = json.loads((out / wav.stem / f"{wav.stem}.json").read_text())
        rows.append(dict(system="Echo (diar + sep + ASR)", minutes=minutes,
                         audio_s=info["duration_s"], proc_s=info["proc_s"],
                         rtf=info["rtf"], num_spk=info["num_spk"], **m))
        print(json.dumps(rows[-1]), flush=True)
    if args.pyannote:
        py = ROOT / "bench" / ".venv-pyannote" / "bin" / "python"
        if not py.exists():
            raise SystemExit(f"{py}: missing; run bash bench/pyannote_env.sh first")
        minutes = args.pyannote_minutes or min(args.minutes)
        wav = cut(full, minutes, work)
        res = work / f"pyannote_{minutes:g}.json"
        m = run_measured([str(py), "bench/pyannote_rtf.py", str(wav), "--num-threads",
                          str(args.num_threads), "--num-speakers", str(args.speakers),
                          "--json-out", str(res)], env)
        r = json.loads(res.read_text())
        rows.append(dict(system="pyannote.audio 4 diarization (random weights)",
                         minutes=minutes, audio_s=r["audio_s"], proc_s=r["wall_s"],
                         rtf=r["rtf"], num_spk=r.get("num_speakers_found"), **m))
        print(json.dumps(rows[-1]), flush=True)
    print("\n| system | audio | RTF (pipeline) | wall incl. load | peak RSS | K̂ |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['system']} | {r['minutes']:g} min | {r['rtf']:.4f} | "
              f"{r['wall_s']:.0f} s | {r['peak_rss_mb']:.0f} MB | {r['num_spk']} |")
    echo = {r["minutes"]: r for r in rows if r["system"].startswith("Echo")}
    if len(echo) >= 2:
        lo, hi = min(echo), max(echo)
        print(f"\npeak RSS {hi:g} min / {lo:g} min: "
              f"{echo[hi]['peak_rss_mb'] / echo[lo]['peak_rss_mb']:.2f}x")
    pyan = [r for r in rows if r["system"].startswith("pyannote")]
    if pyan and pyan[0]["minutes"] in echo:
        ratio = pyan[0]["rtf"] / echo[pyan[0]["minutes"]]["rtf"]
        print(f"pyannote RTF / Echo RTF on the same {pyan[0]['minutes']:g} min: {ratio:.2f}x")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(rows=rows, machine=os.uname().nodename,
                                   cpus=os.cpu_count(), threads=args.num_threads),
                              indent=1) + "\n")


if __name__ == "__main__":
    main()

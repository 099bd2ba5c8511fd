#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Recipe stage 2: validate a contract data dir and dump it in the layout of EchoTask.

``python -m espnet_echo.bin.format_data --src data/train --dst dump/raw/train --num_spk 3``

Every text file and every audio file (mixture, sources, noise) is checked; the first
problem stops the run with one message naming the file (and line). The dump is built in a
temporary dir next to ``--dst`` and moved into place only when everything succeeded, so a
failed run leaves an existing ``--dst`` as it was. A stamp of the options and input
checksums makes a re-run with the same inputs a no-op.

Dump layout (``<dst>/``), every file sorted by utterance id and covering every utterance:

* ``wav.scp``: ``<utt> <mixture path>`` (data name ``speech``, type ``sound``);
* ``speech_ref.scp``: ``<utt> <spk1 path> ... <spkK path>`` (``variable_columns_sound``);
* ``text_spk1`` .. ``text_spk{num_spk}``: ``<utt> <transcript>``, or ``<utt>`` alone when
  the mixture has fewer speakers (``text``);
* ``utt2num_spk`` (``text_int``), ``utt2num_samples``;
* ``espnet_rttm`` (type ``rttm``: speaker columns in source order, one ``END`` per utt)
  and ``rttm`` (seconds);
* ``utt2spks``, ``noise.scp`` (if the source has them), ``utt2spk``/``spk2utt``
  (mixture level: ``<utt> <utt>``);
* ``wav/`` (only with ``--resample true``): audio resampled to ``--fs``;
* ``.format_data.json``: the stamp.

Files absent from the source (sources, transcripts, RTTM, noise) are absent from the dump.
"""

import argparse
import concurrent.futures
import hashlib
import logging
import multiprocessing
import os
import sys
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import soundfile

from espnet_echo.data.datadir import DataDir, load_data_dir
from espnet_echo.utils.audio import AudioError, load_audio
from espnet_echo.utils.cli import add_log_level_argument, setup_logging
from espnet_echo.utils.fileio import (
    DataFileError,
    atomic_open,
    file_digest,
    stamp_is_current,
    staged_dir,
    write_kaldi_map,
    write_stamp,
)

PathLike = Union[str, Path]

NUM_SPK_MAX = 4  # = espnet_echo.tasks.echo.MAX_SPK (not imported: it pulls in torch)
STAMP_NAME = ".format_data.json"
STAMP_VERSION = 1
# RTTM segments may end this much past the end of the mixture (rounding of seconds).
RTTM_TOLERANCE_S = 0.01


# ----------------------------------------------------------------------------------------
# Audio checks
# ----------------------------------------------------------------------------------------
def _load(path: str, fs: int, resample: bool, notes: List[str]) -> tuple:
    """``load_audio`` that records resampling notes; returns ``(wav, original rate or None)``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wav = load_audio(path, fs=fs, resample=resample)
    orig_rate = None
    if caught:
        orig_rate = soundfile.info(path).samplerate
        notes.extend(str(w.message) for w in caught)
    return wav, orig_rate


def _write_resampled(
    wav: np.ndarray, fs: int, tmp_dir: Path, final_dir: Path, name: str
) -> str:
    """Write ``wav`` as ``tmp_dir/name``; return the path it will have in ``final_dir``."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    peak = float(np.max(np.abs(wav))) if wav.size else 0.0
    subtype = "PCM_16" if peak < 1.0 else "FLOAT"  # keep overshoot of the filter unclipped
    soundfile.write(str(tmp_dir / name), wav, fs, subtype=subtype)
    return str(final_dir / name)


def check_utterance(job: Dict) -> Dict:
    """Check (and with ``resample`` resample) the audio of one utterance.

    Args:
        job: ``utt``, ``mix``, ``sources`` (list), ``noise`` (or None), ``fs``,
            ``resample``, ``tmp_wav_dir``, ``final_wav_dir``.

    Returns:
        ``num_samples``, ``orig_rate`` (of the mixture, None if not resampled), the output
        paths ``mix``/``sources``/``noise`` and ``notes`` (warnings to log).

    Raises:
        AudioError: naming the bad file.
    """
    utt, fs, resample = job["utt"], job["fs"], job["resample"]
    notes: List[str] = []
    tmp_dir, final_dir = Path(job["tmp_wav_dir"]), Path(job["final_wav_dir"])

    def out_path(path, wav, rate, name):
        if rate is None:
            return path
        return _write_resampled(wav, fs, tmp_dir, final_dir, f"{utt}-{name}.wav")

    mix, mix_rate = _load(job["mix"], fs, resample, notes)
    result = dict(
        num_samples=len(mix),
        orig_rate=mix_rate,
        mix=out_path(job["mix"], mix, mix_rate, "mix"),
        sources=[],
        noise=None,
        notes=notes,
    )
    named = [(f"source {n}", f"spk{n}", p) for n, p in enumerate(job["sources"], 1)]
    if job["noise"] is not None:
        named.append(("noise", "noise", job["noise"]))
    for label, name, path in named:
        wav, rate = _load(path, fs, resample, notes)
        if len(wav) != len(mix):
            raise AudioError(
                f"{path}: {label} of utterance {utt!r} has {len(wav)} samples but its "
                f"mixture {job['mix']} has {len(mix)} (every source and the noise must be "
                "as long as the mixture)"
            )
        if name == "noise":
            result["noise"] = out_path(path, wav, rate, name)
        else:
            result["sources"].append(out_path(path, wav, rate, name))
    return result


def _abspath(path: str) -> str:
    """Kaldi convention: relative paths are relative to the working dir."""
    return os.path.abspath(path)


def _run_jobs(jobs: Sequence[Dict], nj: int) -> List[Dict]:
    if nj <= 1 or len(jobs) <= 1:
        return [check_utterance(job) for job in jobs]
    ctx = multiprocessing.get_context("fork")
    chunksize = max(1, len(jobs) // (nj * 4))
    with concurrent.futures.ProcessPoolExecutor(nj, mp_context=ctx) as pool:
        try:
            return list(pool.map(check_utterance, jobs, chunksize=chunksize))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


# ----------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------
def _speaker_order(ddir: DataDir, utt: str) -> List[str]:
    if ddir.utt2spks is not None:
        return list(ddir.utt2spks[utt])
    if ddir.espnet_rttm is not None:
        return list(ddir.espnet_rttm[utt].speakers)
    return list(dict.fromkeys(seg.spk for seg in ddir.rttm[utt]))


def _espnet_rttm_lines(ddir: DataDir, utt: str, num_samples: int, ratio: float, fs: int):
    """Sample-level RTTM of ``utt``, speakers in source order, then its ``END`` line."""
    order = _speaker_order(ddir, utt)
    if ddir.espnet_rttm is not None:
        events = [
            (spk, int(round(s * ratio)), min(int(round(e * ratio)), num_samples))
            for spk, s, e in ddir.espnet_rttm[utt].events
        ]
    else:  # as egs2/TEMPLATE/diar1/pyscripts/utils/convert_rttm.py
        events = []
        for seg in ddir.rttm[utt]:
            start = int(np.rint(seg.start * fs))
            events.append((seg.spk, start, start + int(np.rint(seg.dur * fs))))
    events.sort(key=lambda ev: (order.index(ev[0]), ev[1], ev[2]))
    lines = [f"SPEAKER {utt} 1 {s} {e} <NA> <NA> {spk} <NA>" for spk, s, e in events]
    lines.append(f"END {utt} <NA> <NA> {num_samples} <NA> <NA> <NA> <NA>")
    return lines


def _rttm_lines(ddir: DataDir, utt: str, fs: int):
    """Standard RTTM of ``utt``: the source lines, or converted from espnet_rttm."""
    if ddir.rttm is not None:
        return [seg.line for seg in ddir.rttm[utt]]
    entry = ddir.espnet_rttm[utt]
    order = _speaker_order(ddir, utt)
    lines = []
    for spk, s, e in sorted(entry.events, key=lambda ev: (order.index(ev[0]), ev[1])):
        lines.append(
            f"SPEAKER {utt} 1 {s / fs:.4f} {max(e - s, 1) / fs:.4f} <NA> <NA> {spk} <NA> <NA>"
        )
    return lines


def _check_lengths(ddir: DataDir, results: Dict[str, Dict], fs: int) -> None:
    """utt2num_samples, the END lines and RTTM segment ends against the real lengths."""
    for utt in ddir.utts:
        res = results[utt]
        n = res["num_samples"]
        if res["orig_rate"] is not None:  # lengths in the source refer to the old rate
            continue
        if ddir.utt2num_samples is not None and ddir.utt2num_samples[utt] != n:
            raise DataFileError(
                f"{ddir.where('utt2num_samples', utt)}: says {ddir.utt2num_samples[utt]} "
                f"samples but {ddir.wav[utt]} has {n}"
            )
        if ddir.espnet_rttm is not None and ddir.espnet_rttm[utt].num_samples != n:
            entry = ddir.espnet_rttm[utt]
            raise DataFileError(
                f"{ddir.path / 'espnet_rttm'}:{entry.end_lineno}: END of {utt!r} says "
                f"{entry.num_samples} samples but {ddir.wav[utt]} has {n}"
            )
        if ddir.rttm is not None:
            for seg in ddir.rttm[utt]:
                if seg.start + seg.dur > n / fs + RTTM_TOLERANCE_S:
                    raise DataFileError(
                        f"{ddir.path / 'rttm'}:{seg.lineno}: segment ends at "
                        f"{seg.start + seg.dur:.3f} s, past the end of {ddir.wav[utt]} "
                        f"({n / fs:.3f} s)"
                    )


def _write_dump(
    ddir: DataDir, results: Dict[str, Dict], out: Path, num_spk: int, fs: int
) -> None:
    utts = ddir.utts
    write_kaldi_map(out / "wav.scp", {u: results[u]["mix"] for u in utts})
    if ddir.spk:
        write_kaldi_map(
            out / "speech_ref.scp", {u: " ".join(results[u]["sources"]) for u in utts}
        )
    if ddir.text:
        for n in range(1, num_spk + 1):
            texts = ddir.text.get(n, {})
            write_kaldi_map(out / f"text_spk{n}", {u: texts.get(u, "") for u in utts})
    write_kaldi_map(out / "utt2num_spk", {u: ddir.num_spk[u] for u in utts})
    write_kaldi_map(out / "utt2num_samples", {u: results[u]["num_samples"] for u in utts})
    if ddir.rttm is not None or ddir.espnet_rttm is not None:
        with atomic_open(out / "espnet_rttm") as f:
            for u in utts:
                rate = results[u]["orig_rate"]
                ratio = fs / rate if rate else 1.0
                lines = _espnet_rttm_lines(ddir, u, results[u]["num_samples"], ratio, fs)
                f.writelines(line + "\n" for line in lines)
        with atomic_open(out / "rttm") as f:
            for u in utts:
                f.writelines(line + "\n" for line in _rttm_lines(ddir, u, fs))
    if ddir.utt2spks is not None:
        write_kaldi_map(out / "utt2spks", {u: " ".join(ddir.utt2spks[u]) for u in utts})
    if ddir.noise is not None:
        write_kaldi_map(out / "noise.scp", {u: results[u]["noise"] for u in utts})
    write_kaldi_map(out / "utt2spk", {u: u for u in utts})
    write_kaldi_map(out / "spk2utt", {u: u for u in utts})


# ----------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------
def _make_stamp(ddir: DataDir, dst: Path, num_spk: int, fs: int, resample: bool) -> Dict:
    inputs = {
        p.name: file_digest(p)
        for p in sorted(ddir.path.iterdir())
        if p.is_file() and not p.name.startswith(".")
    }
    audio = hashlib.sha256()
    for utt in ddir.utts:
        paths = [ddir.wav[utt], *ddir.sources(utt)]
        if ddir.noise is not None:
            paths.append(ddir.noise[utt])
        for p in paths:
            try:
                st = os.stat(p)
                audio.update(f"{_abspath(p)} {st.st_size} {st.st_mtime_ns}\n".encode())
            except OSError:
                audio.update(f"{_abspath(p)} missing\n".encode())
    return dict(
        version=STAMP_VERSION,
        options=dict(
            src=os.path.abspath(ddir.path),
            dst=os.path.abspath(dst),
            num_spk=num_spk,
            fs=fs,
            resample=resample,
        ),
        inputs=inputs,
        audio=audio.hexdigest(),
    )


def format_data(
    src: PathLike,
    dst: PathLike,
    num_spk: int = 3,
    fs: int = 16000,
    resample: bool = False,
    nj: int = 1,
) -> bool:
    """Validate data dir ``src`` and dump it into ``dst`` (see the module docstring).

    Args:
        src: Contract data dir.
        dst: Output dir; replaced as a whole on success.
        num_spk: Speaker slots S: ``text_spk1..S`` are written; a mixture with more
            speakers is an error.
        fs: Required sample rate.
        resample: Resample audio of another rate into ``dst/wav/`` instead of failing.
        nj: Parallel processes for the audio checks.

    Returns:
        True if ``dst`` was (re)written, False if it was already up to date.

    Raises:
        DataFileError: a bad text file (names file and line).
        AudioError: a bad audio file (names the file).
        ValueError: bad options.
    """
    src, dst = Path(src), Path(dst)
    if not 1 <= num_spk <= NUM_SPK_MAX:
        raise ValueError(f"--num_spk must be in 1..{NUM_SPK_MAX}, got {num_spk}")
    if fs <= 0:
        raise ValueError(f"--fs must be positive, got {fs}")
    if nj < 1:
        raise ValueError(f"--nj must be >= 1, got {nj}")
    if src.exists() and dst.exists() and os.path.samefile(src, dst):
        raise ValueError(f"--dst {dst} is the source data dir; choose another dir")

    ddir = load_data_dir(src, num_spk_max=NUM_SPK_MAX)
    ddir.check_complete()
    for utt in ddir.utts:
        if ddir.num_spk[utt] > num_spk:
            raise DataFileError(
                f"{ddir.num_spk_source(utt)}: utterance {utt!r} has "
                f"K={ddir.num_spk[utt]} speakers, more than --num_spk {num_spk}"
            )

    stamp = _make_stamp(ddir, dst, num_spk, fs, resample)
    if stamp_is_current(dst, stamp, STAMP_NAME):
        logging.info(
            f"{dst} is up to date with {src} (same inputs and options); nothing to do"
        )
        return False

    with staged_dir(dst) as tmp:
        jobs = [
            dict(
                utt=utt,
                mix=_abspath(ddir.wav[utt]),
                sources=[_abspath(p) for p in ddir.sources(utt)],
                noise=_abspath(ddir.noise[utt]) if ddir.noise is not None else None,
                fs=fs,
                resample=resample,
                tmp_wav_dir=str(tmp / "wav"),
                final_wav_dir=os.path.abspath(dst / "wav"),
            )
            for utt in ddir.utts
        ]
        results = dict(zip(ddir.utts, _run_jobs(jobs, nj)))
        for utt in ddir.utts:
            for note in results[utt]["notes"]:
                logging.warning(note)
        _check_lengths(ddir, results, fs)
        _write_dump(ddir, results, tmp, num_spk, fs)
        write_stamp(tmp, stamp, STAMP_NAME)
    n_res = sum(r["orig_rate"] is not None for r in results.values())
    logging.info(
        f"{dst}: dumped {len(results)} utterances from {src}"
        + (f" ({n_res} mixtures resampled to {fs} Hz)" if n_res else "")
    )
    return True


def get_parser() -> argparse.ArgumentParser:
    """Command line of stage 2."""
    from espnet2.utils.types import str2bool

    parser = argparse.ArgumentParser(
        description="Validate a contract data dir and dump it for EchoTask",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--src", required=True, help="Data dir, e.g. data/train")
    parser.add_argument("--dst", required=True, help="Dump dir, e.g. dump/raw/train")
    parser.add_argument(
        "--num_spk", type=int, default=3,
        help=f"Speaker slots (1..{NUM_SPK_MAX}): text_spk1..num_spk are written",
    )
    parser.add_argument("--fs", type=int, default=16000, help="Required sample rate")
    parser.add_argument(
        "--resample", type=str2bool, default=False,
        help="Resample audio of another rate into <dst>/wav/ instead of failing",
    )
    parser.add_argument("--nj", type=int, default=1, help="Parallel jobs for audio checks")
    add_log_level_argument(parser)
    return parser


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Run stage 2; a data problem exits with status 1 and one message on stderr.

    Example:
        % python -m espnet_echo.bin.format_data --src data/train --dst dump/raw/train \\
            --num_spk 3 --fs 16000
    """
    args = get_parser().parse_args(cmd)
    setup_logging(args.log_level)
    try:
        format_data(args.src, args.dst, args.num_spk, args.fs, args.resample, args.nj)
    except (DataFileError, AudioError, ValueError) as e:
        sys.exit(f"format_data: error: {e}")


if __name__ == "__main__":
    main()

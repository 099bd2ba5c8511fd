# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Recipe stage 2: validate a data dir and dump it in the layout of EchoTask.

The command line is :mod:`espnet_echo.bin.format_data`. The source is read with the one
data-dir reader (:func:`espnet_echo.data.datadir.load_data_dir`: the contract files plus
the Kaldi/ESPnet conventions, ``docs/CONTRACT.md``); every text file and every audio
file (mixture, sources, noise) is checked; the first problem stops the run with one
message naming the file (and line). The dump is built in a temporary dir next to
``dst`` and moved into place only when everything succeeded, so a failed run leaves an
existing ``dst`` as it was. A stamp of the options and input checksums makes a re-run
with the same inputs a no-op (never with ``cmd |`` entries, whose input is unknown).

Dump layout (``<dst>/``), every file sorted by utterance id and covering every utterance:

* ``wav.scp``: ``<utt> <mixture path>`` (data name ``speech``, type ``sound``);
* ``speech_ref.scp``: ``<utt> <spk1 path> ... <spkK path>`` (``variable_columns_sound``);
* ``text_spk1`` .. ``text_spk{num_spk}``: ``<utt> <transcript>``, or ``<utt>`` alone when
  the mixture has fewer speakers (``text``);
* ``utt2num_spk`` (``text_int``), ``utt2num_samples`` (at ``fs``);
* ``espnet_rttm`` (type ``rttm``: speaker columns in source order, one ``END`` per utt)
  and ``rttm`` (seconds, :data:`~espnet_echo.data.contract.TIME_DECIMALS` decimals),
  both in utterance time at ``fs``, each from its own source file when there is one;
* ``uem`` (if the source has one), in utterance time;
* ``utt2spks``, ``noise.scp`` (if the source has them), ``utt2spk``/``spk2utt``
  (mixture level: ``<utt> <utt>``);
* ``wav/``: the audio that cannot be listed as it is: resampled (``resample``), cut by
  ``segments``, read from a pipe or an ark, or with whitespace in its path;
* ``.format_data.json``: the stamp.

Every time label goes through the same transforms as the audio (cut, resample:
:meth:`espnet_echo.data.datadir.DataDir.labels`), and every stated length is checked
against the audio at its own rate before resampling.
"""

import concurrent.futures
import hashlib
import logging
import multiprocessing
import os
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import soundfile

from espnet_echo.data.contract import MAX_SPK
from espnet_echo.data.datadir import (
    DataDir,
    Segment,
    UttLabels,
    cut_recording,
    load_data_dir,
    log_notes,
)
from espnet_echo.data.rttm import (
    format_espnet_rttm_lines,
    format_rttm_line,
    format_uem_line,
    write_lines,
)
from espnet_echo.data.scp import entry_stamp, is_plain_path, read_entry
from espnet_echo.utils.audio import AudioError, conform_audio
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

NUM_SPK_MAX = MAX_SPK
STAMP_NAME = ".format_data.json"
STAMP_VERSION = 2


# ----------------------------------------------------------------------------------------
# Audio (one job per recording: decoded once, cut into its utterances)
# ----------------------------------------------------------------------------------------
def _write_wav(
    wav: np.ndarray, fs: int, tmp_dir: Path, final_dir: Path, name: str, resampled: bool
) -> str:
    """Write ``wav`` as ``tmp_dir/name``; return the path it will have in ``final_dir``.

    PCM_16 when that is exact (a cut of 16-bit audio) or, for resampled audio, when it
    fits; else FLOAT (keeps filter overshoot and 24-bit/float sources as they are).
    """
    tmp_dir.mkdir(parents=True, exist_ok=True)
    peak = float(np.max(np.abs(wav))) if wav.size else 0.0
    scaled = wav.astype(np.float64) * 32768.0
    exact16 = peak < 1.0 and np.array_equal(scaled, np.round(scaled))
    subtype = "PCM_16" if exact16 or (resampled and peak < 1.0) else "FLOAT"
    soundfile.write(str(tmp_dir / name), wav, fs, subtype=subtype)
    return str(final_dir / name)


def check_recording(job: Dict) -> List[Dict]:
    """Check the audio of one recording and cut (and resample) its utterances.

    Args:
        job: ``rec``, ``utts`` (list of ``(utt, Segment or None, segments:line)``), ``mix``,
            ``sources`` (list), ``noise`` (or None): each ``(entry, scp:line)``; ``fs``,
            ``resample``, ``tmp_wav_dir``, ``final_wav_dir``.

    Returns:
        Per utterance: ``utt``, ``num_samples`` (at ``fs``), ``cut``
        (:class:`~espnet_echo.data.labels.AudioCut`), ``orig_rate`` (None if not
        resampled), the output paths ``mix``/``sources``/``noise`` and ``notes``.

    Raises:
        AudioError: naming the scp line and the bad file.
        DataFileError: a segment outside its recording.
    """
    fs, resample = job["fs"], job["resample"]
    tmp_dir, final_dir = Path(job["tmp_wav_dir"]), Path(job["final_wav_dir"])
    named = [("mixture", "mix", job["mix"])]
    named += [(f"source {n}", f"spk{n}", s) for n, s in enumerate(job["sources"], 1)]
    if job["noise"] is not None:
        named.append(("noise", "noise", job["noise"]))
    decoded = []
    for label, name, (entry, where) in named:
        wav, rate = read_entry(entry, where)
        if rate != fs and not resample:
            raise AudioError(f"{where}: {entry}: sample rate {rate} Hz, expected {fs} Hz")
        if decoded:
            mix_wav, mix_rate = decoded[0][3], decoded[0][4]
            mix_entry, mix_where = named[0][2]
            if rate != mix_rate or len(wav) != len(mix_wav):
                raise AudioError(
                    f"{where}: {entry}: {label} of {job['rec']!r} has {len(wav)} samples at "
                    f"{rate} Hz but its "
                    f"mixture ({mix_where}: {mix_entry}) has {len(mix_wav)} at {mix_rate} "
                    "Hz (every source and the noise must be as long as the mixture)"
                )
        decoded.append((label, name, (entry, where), wav, rate))
    results = []
    for utt, segment, seg_where in job["utts"]:
        notes: List[str] = []
        res = dict(utt=utt, sources=[], noise=None, notes=notes)
        for label, name, (entry, where), wav, rate in decoded:
            part, cut, note = cut_recording(wav, rate, segment, seg_where, f"{where}: {entry}")
            if note and name == "mix":
                notes.append(note)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                part = conform_audio(part, rate, f"{where}: {entry}", fs, resample)
            notes.extend(str(w.message) for w in caught)
            rewritten = rate != fs or segment is not None or not is_plain_path(entry)
            if rewritten:
                if "/" in utt:
                    raise DataFileError(
                        f"{seg_where or where}: utterance id {utt!r} holds '/'; its audio "
                        f"must be written to {final_dir} as a file named after it"
                    )
                out = _write_wav(part, fs, tmp_dir, final_dir, f"{utt}-{name}.wav", rate != fs)
            else:
                out = os.path.abspath(entry.strip())
            if name == "mix":
                res.update(
                    num_samples=len(part), cut=cut, mix=out,
                    orig_rate=rate if rate != fs else None,
                )
            elif name == "noise":
                res["noise"] = out
            else:
                res["sources"].append(out)
        results.append(res)
    return results


def _run_jobs(jobs: Sequence[Dict], nj: int) -> List[List[Dict]]:
    if nj <= 1 or len(jobs) <= 1:
        return [check_recording(job) for job in jobs]
    ctx = multiprocessing.get_context("fork")
    chunksize = max(1, len(jobs) // (nj * 4))
    with concurrent.futures.ProcessPoolExecutor(nj, mp_context=ctx) as pool:
        try:
            return list(pool.map(check_recording, jobs, chunksize=chunksize))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _jobs(ddir: DataDir, fs: int, resample: bool, tmp: Path, dst: Path) -> List[Dict]:
    """One job per recording, with the utterances cut from it (in sorted order)."""
    by_rec: Dict[str, List[Tuple[str, Optional[Segment], str]]] = {}
    for utt in ddir.utts:
        seg = ddir.segments[utt] if ddir.segments is not None else None
        where = ddir.where("segments", utt) if seg is not None else ""
        by_rec.setdefault(ddir.rec_of(utt), []).append((utt, seg, where))
    jobs = []
    for rec, utts in by_rec.items():
        first = utts[0][0]
        jobs.append(
            dict(
                rec=rec,
                utts=utts,
                mix=ddir.audio_entry(first, "mix"),
                sources=[
                    ddir.audio_entry(first, n) for n in range(1, 1 + len(ddir.sources(first)))
                ],
                noise=ddir.audio_entry(first, "noise") if ddir.noise is not None else None,
                fs=fs,
                resample=resample,
                tmp_wav_dir=str(tmp / "wav"),
                final_wav_dir=os.path.abspath(dst / "wav"),
            )
        )
    return jobs


# ----------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------
def _sorted_turns(labels: UttLabels, turns):
    order = {spk: i for i, spk in enumerate(labels.speakers)}
    return sorted(turns, key=lambda t: (order.get(t.spk, len(order)), t.start, t.end))


def _write_dump(
    ddir: DataDir,
    results: Dict[str, Dict],
    labels: Dict[str, UttLabels],
    out: Path,
    num_spk: int,
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
                lab = labels[u]
                events = [(t.spk, t.start, t.end) for t in _sorted_turns(lab, lab.samples)]
                write_lines(f, format_espnet_rttm_lines(u, events, lab.num_samples))
        with atomic_open(out / "rttm") as f:
            for u in utts:
                lab = labels[u]
                write_lines(
                    f,
                    [
                        format_rttm_line(u, t.start, t.dur, t.spk)
                        for t in _sorted_turns(lab, lab.seconds)
                    ],
                )
    if ddir.uem is not None:
        with atomic_open(out / "uem") as f:
            for u in utts:
                write_lines(f, [format_uem_line(u, t.start, t.end) for t in labels[u].uem])
    if ddir.utt2spks is not None:
        write_kaldi_map(out / "utt2spks", {u: " ".join(ddir.utt2spks[u]) for u in utts})
    if ddir.noise is not None:
        write_kaldi_map(out / "noise.scp", {u: results[u]["noise"] for u in utts})
    write_kaldi_map(out / "utt2spk", {u: u for u in utts})
    write_kaldi_map(out / "spk2utt", {u: u for u in utts})


# ----------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------
def _make_stamp(
    ddir: DataDir, dst: Path, num_spk: int, fs: int, resample: bool
) -> Optional[Dict]:
    """The stamp of a run, or None when the audio cannot be stamped (pipes)."""
    inputs = {
        p.name: file_digest(p)
        for p in sorted(ddir.path.iterdir())
        if p.is_file() and not p.name.startswith(".")
    }
    audio = hashlib.sha256()
    recs = dict.fromkeys(ddir.rec_of(u) for u in ddir.utts)
    for rec in recs:
        entries = [ddir.recordings[rec]]
        entries += [ddir.spk[n][rec] for n in sorted(ddir.spk) if rec in ddir.spk[n]]
        if ddir.noise is not None and rec in ddir.noise:
            entries.append(ddir.noise[rec])
        for entry in entries:
            stamp = entry_stamp(entry)
            if stamp is None:
                return None
            audio.update(f"{stamp}\n".encode())
    return dict(
        version=STAMP_VERSION,
        options=dict(
            src=os.path.abspath(ddir.path),
            dst=os.path.abspath(dst),
            num_spk=num_spk,
            fs=fs,
            resample=resample,
            cwd=os.getcwd(),  # relative paths and pipes are relative to it (Kaldi)
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
        src: Data dir (contract, or Kaldi/ESPnet conventions of ``docs/CONTRACT.md``).
        dst: Output dir; replaced as a whole on success.
        num_spk: Speaker slots S: ``text_spk1..S`` are written; a mixture with more
            speakers is an error.
        fs: Required sample rate.
        resample: Resample audio of another rate into ``dst/wav/`` instead of failing.
        nj: Parallel processes for the audio checks.

    Returns:
        True if ``dst`` was (re)written, False if it was already up to date.

    Raises:
        DataFileError: a bad text file or label (names file and line).
        AudioError: a bad audio file (names the scp line and the file).
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
    if Path(os.path.realpath(dst)) in Path(os.path.realpath(src)).parents:
        raise ValueError(f"--dst {dst} contains the source data dir {src}; choose another dir")

    ddir = load_data_dir(src, num_spk_max=NUM_SPK_MAX)
    ddir.check_complete()
    log_notes(ddir)
    _check_num_spk(ddir, num_spk)

    stamp = _make_stamp(ddir, dst, num_spk, fs, resample)
    if stamp is not None and stamp_is_current(dst, stamp, STAMP_NAME):
        logging.info(
            f"{dst} is up to date with {src} (same inputs and options); nothing to do"
        )
        return False

    with staged_dir(dst, STAMP_NAME) as tmp:
        jobs = _jobs(ddir, fs, resample, tmp, dst)
        results = {r["utt"]: r for rs in _run_jobs(jobs, nj) for r in rs}
        notes = [note for u in ddir.utts for note in results[u]["notes"]]
        for note in notes:
            logging.warning(note)
        labels = {
            u: ddir.labels(u, results[u]["cut"], fs, results[u]["num_samples"])
            for u in ddir.utts
        }
        clipped = list(dict.fromkeys(t.where for lab in labels.values() for t in lab.clipped))
        if clipped:
            logging.warning(
                f"{len(clipped)} labels end past their audio by less than the tolerance "
                f"and were clipped to its end (first: {clipped[0]})"
            )
        _check_num_spk(ddir, num_spk)
        _write_dump(ddir, results, labels, tmp, num_spk)
        # a dump of pipe entries gets a stamp too (it marks the dir as a format_data
        # output, see staged_dir), one that never matches a run's stamp
        write_stamp(tmp, stamp or {"cacheable": False, "why": "pipe entries"}, STAMP_NAME)
    n_res = sum(results[u]["orig_rate"] is not None for u in ddir.utts)
    logging.info(
        f"{dst}: dumped {len(results)} utterances from {src}"
        + (f" ({n_res} mixtures resampled to {fs} Hz)" if n_res else "")
        + (f" (cut from {len(jobs)} recordings by segments)" if ddir.segments else "")
    )
    return True


def _check_num_spk(ddir: DataDir, num_spk: int) -> None:
    for utt in ddir.utts:
        k = ddir.num_spk.get(utt)
        if k is not None and k > num_spk:
            raise DataFileError(
                f"{ddir.num_spk_source(utt)}: utterance {utt!r} has "
                f"K={k} speakers, more than --num_spk {num_spk}"
            )

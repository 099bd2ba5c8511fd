#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Score a hypothesis dir against a reference data dir (formats: docs/CONTRACT.md).

The reference may be a contract data dir (``data/<split>``) or its ``format_data`` dump
(``dump/raw/<split>``: ``speech_ref.scp`` instead of ``spk{n}.scp``, ``text_spk{n}`` for
every utterance, cut to K with ``utt2num_spk``).

Every task whose files are in the hypothesis dir is scored; a task without files there is
reported as None (``-`` in tables):

* diarization (``rttm``): DER at each ``--collar`` (md-eval convention: no-score zone of
  that many seconds on each side of reference boundaries), overlap scored, over the
  whole recording (UEM ``[0, utt2num_samples / fs]``);
* separation (``spk{n}.scp``): PIT SI-SDR / SI-SDRi (estimates must have exactly the
  mixture's length and sample rate);
* ASR (``text_spk{n}``): PIT WER and cpWER;
* counting (``utt2num_spk``): speaker-count accuracy and mean |K̂ - K|.

All numbers are corpus-level (components summed over utterances). An utterance of the
reference that a task's hypothesis files do not list is scored as "no output" for that
task (all speech missed, K̂ = 0, ...) and counted in that task's ``num_utts_missing``.

Writes ``<out_dir>/scores.json`` (atomically) and ``<out_dir>/scores.md``.

Example:
    python -m espnet_echo.bin.score --ref_dir data/test --hyp_dir exp/x/decode_test \\
        --out_dir exp/x/decode_test/score --name x/test
"""

import argparse
import json
import logging
import math
import re
import sys
from pathlib import Path
from typing import Collection, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import soundfile
from pyannote.core import Annotation

from espnet_echo.bin.show_results import format_details, format_table
from espnet_echo.metrics.der import compute_der_collars, read_rttm
from espnet_echo.metrics.sisdr import SISDRStats, score_separation
from espnet_echo.metrics.speaker_count import speaker_count_stats
from espnet_echo.metrics.wer import WERStats, cp_wer, pit_wer
from espnet_echo.utils.audio import AudioError, load_audio
from espnet_echo.utils.fileio import DataFileError, atomic_open, read_kaldi_map

PathLike = Union[str, Path]
SCORES_VERSION = 1
_INDEXED = {"scp": re.compile(r"^spk(\d+)\.scp$"), "text": re.compile(r"^text_spk(\d+)$")}


def _line_of(path: Path, key: str) -> int:
    """1-based line number of the first line of ``path`` whose first field is ``key``."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split(maxsplit=1)
            if fields and fields[0] == key:
                return lineno
    return 0


def _check_known(path: Path, keys: Collection[str], known: Optional[Collection[str]]) -> None:
    if known is None:
        return
    for key in keys:
        if key not in known:
            raise DataFileError(
                f"{path}:{_line_of(path, key)}: utterance {key!r} is not in the reference"
            )


def read_num_spk(
    path: PathLike, known_utts: Optional[Collection[str]] = None
) -> Dict[str, int]:
    """Read ``utt2num_spk`` (``<utt> <K>``, K a non-negative integer).

    Raises:
        DataFileError: malformed line or unknown utterance; the message names ``path:line``.
    """
    path = Path(path)
    raw = read_kaldi_map(path, num_fields=1)
    _check_known(path, raw, known_utts)
    out = {}
    for utt, value in raw.items():
        try:
            k = int(value)
        except ValueError:
            k = -1
        if k < 0:
            raise DataFileError(
                f"{path}:{_line_of(path, utt)}: speaker count must be an integer >= 0, "
                f"got {value!r}"
            )
        out[utt] = k
    return out


def read_indexed(
    directory: PathLike, kind: str, known_utts: Optional[Collection[str]] = None
) -> Optional[Dict[str, List[Tuple[str, Path]]]]:
    """Read the numbered per-speaker files ``spk{n}.scp`` (kind ``"scp"``) or ``text_spk{n}``.

    Files must be numbered 1..N without gaps, and an utterance listed in file n must be
    listed in files 1..n-1 (the contract writes output n only for mixtures with K >= n).

    Args:
        directory: Data or hypothesis dir.
        kind: ``"scp"`` or ``"text"`` (texts may be empty: ``<utt>`` alone).
        known_utts: If given, an utterance outside it is an error.

    Returns:
        None when no such file exists, else ``{utt: [(value, file), ...]}`` in speaker
        order, where ``file`` is the file the value came from (for error messages).

    Raises:
        DataFileError: gap in numbering, malformed line, unknown utterance or an
            utterance missing from a lower-numbered file; the message names the file.
    """
    directory = Path(directory)
    pattern = _INDEXED[kind]
    found = {}
    if directory.is_dir():
        for p in directory.iterdir():
            m = pattern.match(p.name)
            if m and p.is_file():
                found[int(m.group(1))] = p
    if not found:
        return None
    name = "spk{}.scp" if kind == "scp" else "text_spk{}"
    top = max(found)
    for n in range(1, top + 1):
        if n not in found:
            raise DataFileError(
                f"{directory / name.format(n)}: file not found, but {name.format(top)} exists "
                f"(per-speaker files must be numbered 1..N)"
            )
    out: Dict[str, List[Tuple[str, Path]]] = {}
    for n in range(1, top + 1):
        path = found[n]
        if kind == "scp":
            entries = read_kaldi_map(path, num_fields=1)
        else:
            entries = read_kaldi_map(path, allow_empty_value=True)
        _check_known(path, entries, known_utts)
        for utt, value in entries.items():
            lst = out.setdefault(utt, [])
            if len(lst) != n - 1:
                raise DataFileError(
                    f"{path}:{_line_of(path, utt)}: utterance {utt!r} is listed here but "
                    f"not in {name.format(n - 1)} (output n exists only for mixtures with "
                    f"K >= n)"
                )
            lst.append((value, path))
    return out


def _ref_num_spk(ref_dir: Path, known_utts: Collection[str]) -> Optional[Dict[str, int]]:
    path = ref_dir / "utt2num_spk"
    return read_num_spk(path, known_utts) if path.is_file() else None


def _check_count(
    ref_dir: Path, utt: str, entries: List[Tuple[str, Path]], k: int, first: Path, what: str
) -> List[Tuple[str, Path]]:
    if len(entries) != k:
        where = entries[-1][1] if entries else first
        num_spk = ref_dir / "utt2num_spk"
        raise DataFileError(
            f"{where}: utterance {utt!r} has {len(entries)} {what}, but "
            f"{num_spk}:{_line_of(num_spk, utt)} says K={k}"
        )
    return entries


def read_ref_sources(
    ref_dir: PathLike, known_utts: Collection[str]
) -> Optional[Dict[str, List[Tuple[str, Path]]]]:
    """Reference sources of a contract data dir or of a ``format_data`` dump dir.

    Reads ``spk{n}.scp`` (data dir) or else ``speech_ref.scp``
    (``<utt> <spk1 path> ... <spkK path>``, dump dir). When the dir has ``utt2num_spk``,
    each utterance must have exactly K sources.

    Returns:
        None when the dir has neither, else ``{utt: [(path, file), ...]}``.

    Raises:
        DataFileError: malformed file, unknown utterance or a count that contradicts
            ``utt2num_spk``; the message names the file.
    """
    ref_dir = Path(ref_dir)
    out = read_indexed(ref_dir, "scp", known_utts)
    first = ref_dir / "spk1.scp"
    if out is None:
        first = ref_dir / "speech_ref.scp"
        if not first.is_file():
            return None
        raw = read_kaldi_map(first)
        _check_known(first, raw, known_utts)
        out = {utt: [(p, first) for p in value.split()] for utt, value in raw.items()}
    num_spk = _ref_num_spk(ref_dir, known_utts)
    if num_spk is not None:
        for utt, k in num_spk.items():
            _check_count(ref_dir, utt, out.get(utt, []), k, first, "reference sources")
    return out


def read_ref_texts(
    ref_dir: PathLike, known_utts: Collection[str]
) -> Optional[Dict[str, List[Tuple[str, Path]]]]:
    """Reference transcripts of a contract data dir or of a ``format_data`` dump dir.

    A dump dir lists every utterance in every ``text_spk{n}`` (``<utt>`` alone for
    n > K); with ``utt2num_spk`` the lists are cut to K entries, and a non-empty
    transcript beyond K, or fewer than K transcripts, is an error.

    Returns:
        None without ``text_spk1``, else ``{utt: [(text, file), ...]}`` (K entries).

    Raises:
        DataFileError: malformed file, unknown utterance or inconsistent count; the
            message names the file.
    """
    ref_dir = Path(ref_dir)
    out = read_indexed(ref_dir, "text", known_utts)
    num_spk = _ref_num_spk(ref_dir, known_utts)
    if out is None or num_spk is None:
        return out
    for utt, k in num_spk.items():
        entries = out.get(utt, [])
        for text, path in entries[k:]:
            if text:
                raise DataFileError(
                    f"{path}:{_line_of(path, utt)}: utterance {utt!r} has K={k} speakers "
                    f"(utt2num_spk) but a transcript for a speaker beyond K"
                )
        out[utt] = _check_count(
            ref_dir, utt, entries[:k], k, ref_dir / "text_spk1", "transcripts"
        )
    return out


def _load(scp: Path, utt: str, wav: str, fs: int, allow_silent: bool = True) -> np.ndarray:
    try:
        return load_audio(wav, fs=fs, allow_silent=allow_silent)
    except AudioError as e:
        raise AudioError(f"{scp}:{_line_of(scp, utt)}: {e}") from e


def _durations(ref_dir: Path, wavs: Mapping[str, str], fs: int) -> Dict[str, float]:
    """Recording durations in seconds from ``utt2num_samples``, else from the wav headers."""
    path = ref_dir / "utt2num_samples"
    if path.is_file():
        raw = read_kaldi_map(path, num_fields=1)
        out = {}
        for utt in wavs:
            if utt not in raw:
                raise DataFileError(f"{path}: no entry for utterance {utt!r}")
            try:
                out[utt] = int(raw[utt]) / fs
            except ValueError:
                raise DataFileError(
                    f"{path}:{_line_of(path, utt)}: expected an integer, got {raw[utt]!r}"
                ) from None
        return out
    out = {}
    for utt, wav in wavs.items():
        try:
            info = soundfile.info(wav)
        except Exception as e:
            raise AudioError(f"{ref_dir / 'wav.scp'}:{_line_of(ref_dir / 'wav.scp', utt)}: "
                             f"{wav}: cannot read audio header ({e})") from e
        out[utt] = info.frames / info.samplerate
    return out


def _require(path: Path, task: str) -> Path:
    if not path.is_file():
        raise DataFileError(f"{path}: file not found (needed to score {task})")
    return path


def score_diarization(
    ref_dir: Path, hyp_dir: Path, wavs: Mapping[str, str], fs: int, collars: Sequence[float]
) -> Optional[List[Dict[str, object]]]:
    """DER at each collar, or None without a hypothesis ``rttm``."""
    hyp_path = hyp_dir / "rttm"
    if not hyp_path.is_file():
        return None
    refs = read_rttm(_require(ref_dir / "rttm", "diarization"), known_utts=wavs)
    hyps = read_rttm(hyp_path, known_utts=wavs)
    refs = {utt: refs.get(utt, Annotation(uri=utt)) for utt in wavs}
    results = compute_der_collars(refs, hyps, _durations(ref_dir, wavs, fs), collars)
    return [r.to_dict() for r in results]


def score_separation_dirs(
    ref_dir: Path, hyp_dir: Path, wavs: Mapping[str, str], fs: int
) -> Optional[Dict[str, object]]:
    """PIT SI-SDR / SI-SDRi, or None without hypothesis ``spk{n}.scp``."""
    hyps = read_indexed(hyp_dir, "scp", known_utts=wavs)
    if hyps is None:
        return None
    refs = read_ref_sources(ref_dir, known_utts=wavs)
    if refs is None:
        raise DataFileError(
            f"{ref_dir / 'spk1.scp'}: file not found, nor speech_ref.scp (needed to score "
            f"separation)"
        )
    wav_scp = ref_dir / "wav.scp"
    stats = SISDRStats()
    for utt, wav in wavs.items():
        mix = _load(wav_scp, utt, wav, fs)
        sigs = {}
        for side, entries, silent_ok in (("reference", refs, False), ("estimate", hyps, True)):
            sig = []
            for path, scp in entries.get(utt, []):
                x = _load(scp, utt, path, fs, allow_silent=silent_ok)
                if x.shape[0] != mix.shape[0]:
                    raise DataFileError(
                        f"{scp}:{_line_of(scp, utt)}: {path}: {side} has {x.shape[0]} "
                        f"samples, the mixture {wav} has {mix.shape[0]}"
                    )
                sig.append(x)
            sigs[side] = np.stack(sig) if sig else np.zeros((0, mix.shape[0]))
        score = score_separation(sigs["reference"], sigs["estimate"], mix)
        stats.add(score, missing=utt not in hyps)
    return stats.to_dict()


def score_asr(
    ref_dir: Path, hyp_dir: Path, wavs: Mapping[str, str]
) -> Tuple[Optional[Dict[str, object]], Optional[Dict[str, object]]]:
    """(PIT WER, cpWER), or (None, None) without hypothesis ``text_spk{n}``."""
    hyps = read_indexed(hyp_dir, "text", known_utts=wavs)
    if hyps is None:
        return None, None
    refs = read_ref_texts(ref_dir, known_utts=wavs)
    if refs is None:
        raise DataFileError(f"{ref_dir / 'text_spk1'}: file not found (needed to score ASR)")
    pit, cp = WERStats(), WERStats()
    for utt in wavs:
        r = [t for t, _ in refs.get(utt, [])]
        h = [t for t, _ in hyps.get(utt, [])]
        missing = WERStats(num_utts_missing=int(utt not in hyps))
        pit = pit + pit_wer(r, h)[0] + missing
        cp = cp + cp_wer(r, h) + missing
    return pit.to_dict(), cp.to_dict()


def score_speaker_count(
    ref_dir: Path, hyp_dir: Path, wavs: Mapping[str, str]
) -> Optional[Dict[str, object]]:
    """Speaker-count accuracy and mean |K̂ - K|, or None without ``utt2num_spk``."""
    hyp_path = hyp_dir / "utt2num_spk"
    if not hyp_path.is_file():
        return None
    ref = read_num_spk(_require(ref_dir / "utt2num_spk", "speaker counting"), known_utts=wavs)
    missing_ref = [u for u in wavs if u not in ref]
    if missing_ref:
        raise DataFileError(
            f"{ref_dir / 'utt2num_spk'}: no entry for utterance {missing_ref[0]!r}"
        )
    hyp = read_num_spk(hyp_path, known_utts=wavs)
    return speaker_count_stats({u: ref[u] for u in wavs}, hyp).to_dict()


def _read_info(hyp_dir: Path) -> Dict[str, object]:
    path = hyp_dir / "info.json"
    if not path.is_file():
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError) as e:
        raise DataFileError(f"{path}: cannot read JSON ({e})") from e
    if not isinstance(info, dict):
        raise DataFileError(f"{path}: expected a JSON object, got {type(info).__name__}")
    return info


def score(
    ref_dir: PathLike,
    hyp_dir: PathLike,
    collars: Sequence[float] = (0.0, 0.25),
    fs: int = 16000,
    name: Optional[str] = None,
) -> Dict[str, object]:
    """Score every task present in ``hyp_dir``; returns the ``scores.json`` content.

    Schema (percentages in %, SI-SDR in dB, times in seconds)::

        name, ref_dir, hyp_dir, num_utts, fs, version
        der:   [ {collar, der, missed, false_alarm, confusion, scored_speech_s, missed_s,
                  false_alarm_s, confusion_s, num_utts, num_utts_missing}, ... ] | None
        sisdr: {si_sdr, si_sdri, si_sdr_matched, si_sdri_matched, num_sources,
                missed_sources, false_sources, num_utts, num_utts_missing, clamp_db} | None
        wer, cpwer: {wer, errors, ref_words, insertions, deletions, substitutions,
                     missed_speakers, false_speakers, num_utts, num_utts_missing} | None
        speaker_count: {accuracy, mean_abs_error, num_utts, num_correct, num_over,
                        num_under, num_utts_missing, confusion: {K: {K_hat: n}}} | None
        info:  the hypothesis dir's info.json (e.g. rtf, encoder_params), {} if absent

    Raises:
        DataFileError, AudioError: bad or inconsistent input; the message names the file.
    """
    ref_dir, hyp_dir = Path(ref_dir), Path(hyp_dir)
    if name is None:
        name = f"{hyp_dir.resolve().parent.name}/{hyp_dir.name}"
    if not hyp_dir.is_dir():
        raise DataFileError(f"{hyp_dir}: hypothesis dir not found")
    wavs = read_kaldi_map(_require(ref_dir / "wav.scp", "anything"), num_fields=1)
    for c in collars:
        if not (math.isfinite(c) and c >= 0):
            raise ValueError(f"--collar must be finite and >= 0, got {c}")
    wer, cpwer = score_asr(ref_dir, hyp_dir, wavs)
    return {
        "name": name,
        "ref_dir": str(ref_dir.resolve()),
        "hyp_dir": str(hyp_dir.resolve()),
        "num_utts": len(wavs),
        "fs": fs,
        "version": SCORES_VERSION,
        "der": score_diarization(ref_dir, hyp_dir, wavs, fs, collars),
        "sisdr": score_separation_dirs(ref_dir, hyp_dir, wavs, fs),
        "wer": wer,
        "cpwer": cpwer,
        "speaker_count": score_speaker_count(ref_dir, hyp_dir, wavs),
        "info": _read_info(hyp_dir),
    }


def write_scores(scores: Mapping[str, object], out_dir: PathLike) -> Tuple[Path, Path]:
    """Atomically write ``scores.json`` and the one-system ``scores.md`` into ``out_dir``."""
    out_dir = Path(out_dir)
    js, md = out_dir / "scores.json", out_dir / "scores.md"
    with atomic_open(js) as f:
        json.dump(scores, f, indent=2)
        f.write("\n")
    with atomic_open(md) as f:
        f.write(f"# {scores['name']}\n\n")
        f.write(format_table([scores]) + "\n\n")
        f.write(format_details(scores) + "\n")
    return js, md


def get_parser() -> argparse.ArgumentParser:
    """Command-line parser."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--ref_dir", required=True, help="reference data dir (data/<split>)")
    p.add_argument(
        "--hyp_dir", required=True, help="hypothesis dir (exp/<model>/decode_<split>)"
    )
    p.add_argument("--out_dir", required=True, help="where scores.json / scores.md go")
    p.add_argument("--name", default=None, help="system name (default: <model dir>/<hyp dir>)")
    p.add_argument(
        "--collar", type=float, nargs="+", default=[0.0, 0.25],
        help="DER collars in seconds, md-eval convention: no-score zone of this many "
        "seconds on EACH side of every reference boundary (pyannote gets twice this)",
    )
    p.add_argument("--fs", type=int, default=16000, help="expected sample rate of all audio")
    return p


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Run the scorer (see module docstring)."""
    args = get_parser().parse_args(cmd)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        scores = score(args.ref_dir, args.hyp_dir, args.collar, args.fs, args.name)
    except (DataFileError, AudioError) as e:
        sys.exit(f"espnet_echo.bin.score: error: {e}")
    js, _ = write_scores(scores, args.out_dir)
    logging.info(f"{scores['name']}: {scores['num_utts']} utterances -> {js}\n"
                 + format_table([scores]))


if __name__ == "__main__":
    main()

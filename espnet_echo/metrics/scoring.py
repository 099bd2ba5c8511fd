# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Score a hypothesis dir against a reference data dir (formats: docs/CONTRACT.md).

The reference may be a contract data dir (``data/<split>``) or its ``format_data`` dump
(``dump/raw/<split>``), read by :mod:`espnet_echo.data.refs`. Every task whose files are in
the hypothesis dir is scored; a task without files there is reported as None:

* diarization (``rttm``): DER at each collar (md-eval convention: no-score zone of that
  many seconds on each side of reference boundaries), overlap scored, over the whole
  recording (UEM ``[0, utt2num_samples / fs]``);
* separation (``spk{n}.scp``): PIT SI-SDR / SI-SDRi (estimates must have exactly the
  mixture's length and sample rate);
* ASR (``text_spk{n}``): PIT WER and cpWER;
* counting (``utt2num_spk``): speaker-count accuracy and mean |K̂ - K|.

All numbers are corpus-level (components summed over utterances). An utterance of the
reference that a task's hypothesis files do not list is scored as "no output" for that
task (all speech missed, K̂ = 0, ...) and counted in that task's ``num_utts_missing``.
"""

import json
import math
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import soundfile
from pyannote.core import Annotation

from espnet_echo.data.refs import (
    line_of,
    read_indexed,
    read_num_spk,
    read_ref_sources,
    read_ref_texts,
)
from espnet_echo.data.rttm import read_rttm
from espnet_echo.metrics.der import compute_der_collars
from espnet_echo.metrics.report import format_details, format_table, read_json_object
from espnet_echo.metrics.sisdr import SISDRStats, score_separation
from espnet_echo.metrics.speaker_count import speaker_count_stats
from espnet_echo.metrics.wer import WERStats, cp_wer, pit_wer
from espnet_echo.utils.audio import AudioError, load_audio
from espnet_echo.utils.fileio import DataFileError, atomic_open, read_kaldi_map

PathLike = Union[str, Path]
SCORES_VERSION = 1


def _load(scp: Path, utt: str, wav: str, fs: int, allow_silent: bool = True) -> np.ndarray:
    try:
        return load_audio(wav, fs=fs, allow_silent=allow_silent)
    except AudioError as e:
        raise AudioError(f"{scp}:{line_of(scp, utt)}: {e}") from e


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
                    f"{path}:{line_of(path, utt)}: expected an integer, got {raw[utt]!r}"
                ) from None
        return out
    out = {}
    for utt, wav in wavs.items():
        try:
            info = soundfile.info(wav)
        except Exception as e:
            raise AudioError(f"{ref_dir / 'wav.scp'}:{line_of(ref_dir / 'wav.scp', utt)}: "
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
    """DER at each collar, or None without a hypothesis ``rttm``.

    Args:
        ref_dir: Reference dir (needs ``rttm``; durations from ``utt2num_samples`` or the
            audio headers).
        hyp_dir: Hypothesis dir.
        wavs: ``{utt: mixture path}`` of the reference (the utterances scored).
        fs: Sample rate (Hz) that ``utt2num_samples`` counts in.
        collars: Collars in seconds on each side of reference boundaries.

    Returns:
        One :meth:`DERResult.to_dict` per collar, or None.

    Raises:
        DataFileError, AudioError: missing or malformed file; the message names it.
    """
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
    """PIT SI-SDR / SI-SDRi, or None without hypothesis ``spk{n}.scp``.

    Args:
        ref_dir: Reference dir (clean sources: ``spk{n}.scp`` or ``speech_ref.scp``).
        hyp_dir: Hypothesis dir.
        wavs: ``{utt: mixture path}`` of the reference.
        fs: Sample rate (Hz) every file must have.

    Returns:
        :meth:`SISDRStats.to_dict` (dB), or None.

    Raises:
        DataFileError, AudioError: missing, malformed or mismatched (length, sample rate)
            file; the message names ``file:line``.
    """
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
                        f"{scp}:{line_of(scp, utt)}: {path}: {side} has {x.shape[0]} "
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
    """(PIT WER, cpWER), or (None, None) without hypothesis ``text_spk{n}``.

    Args:
        ref_dir: Reference dir (``text_spk{n}``).
        hyp_dir: Hypothesis dir.
        wavs: ``{utt: mixture path}`` of the reference.

    Returns:
        Two :meth:`WERStats.to_dict` (WER in %), or (None, None).

    Raises:
        DataFileError: missing or malformed file; the message names it.
    """
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
    """Speaker-count accuracy and mean |K̂ - K|, or None without ``utt2num_spk``.

    Args:
        ref_dir: Reference dir (``utt2num_spk`` for every utterance).
        hyp_dir: Hypothesis dir.
        wavs: ``{utt: mixture path}`` of the reference.

    Returns:
        :meth:`SpeakerCountStats.to_dict`, or None.

    Raises:
        DataFileError: missing or malformed file, or an utterance without reference K.
    """
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
    return read_json_object(path) if path.is_file() else {}


def score(
    ref_dir: PathLike,
    hyp_dir: PathLike,
    collars: Sequence[float] = (0.0, 0.25),
    fs: int = 16000,
    name: Optional[str] = None,
) -> Dict[str, object]:
    """Score every task present in ``hyp_dir``; returns the ``scores.json`` content.

    Args:
        ref_dir: Reference data dir or ``format_data`` dump dir.
        hyp_dir: Hypothesis dir (``rttm``, ``spk{n}.scp``, ``text_spk{n}``,
            ``utt2num_spk``, optional ``info.json``).
        collars: DER collars in seconds (md-eval convention: each side).
        fs: Expected sample rate (Hz) of all audio.
        name: System name (default ``<model dir>/<hyp dir>``).

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
        ValueError: a collar that is negative or not finite.
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
    """Atomically write ``scores.json`` and the one-system ``scores.md`` into ``out_dir``.

    Args:
        scores: :func:`score` result.
        out_dir: Output dir (created if needed).

    Returns:
        The paths of ``scores.json`` and ``scores.md``.
    """
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

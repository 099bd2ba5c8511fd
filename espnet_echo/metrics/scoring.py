# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Score a hypothesis dir against a reference data dir (formats: docs/CONTRACT.md).

The reference is read by the one data-dir reader,
:func:`espnet_echo.data.datadir.load_data_dir` (then
:meth:`~espnet_echo.data.datadir.DataDir.check_complete`): a contract data dir
(``data/<split>``) or its ``format_data`` dump (``dump/raw/<split>``), with every
Kaldi/ESPnet convention it supports (``segments``: each segment is an utterance, its audio
and recording-level labels cut as ESPnet cuts them; ``cmd |`` pipes, ``file.ark:offset``
entries, paths with spaces; ``reco2file_and_channel``; ``uem``). The hypothesis dir has
its own simple layout (:mod:`espnet_echo.data.refs`; its ``spk{n}.scp`` entries are read
by :func:`espnet_echo.data.scp.read_entry`, so they may be pipes too). Every task whose
files are in the hypothesis dir is scored; a task without files there is reported as None:

* diarization (``rttm``): DER at each collar (md-eval convention: no-score zone of that
  many seconds on each side of reference boundaries), overlap scored. The reference turns
  are :meth:`DataDir.labels` (``rttm``, else ``espnet_rttm``), in utterance time. The
  scored region (UEM) of an utterance is the reference dir's ``uem`` when it has one
  (keyed by utterance, or by recording and cut by ``segments`` like the turns), else the
  whole utterance, ``[0, length of its audio]``;
* separation (``spk{n}.scp``): PIT SI-SDR / SI-SDRi (estimates must have exactly the
  mixture's length and sample rate);
* ASR (``text_spk{n}``): PIT WER and cpWER against the K reference transcripts;
* counting (``utt2num_spk``): speaker-count accuracy and mean |K̂ - K| (K as the data-dir
  reader counts it: ``utt2num_spk``, else the sources, transcripts, ``utt2spks`` or labels).

All numbers are corpus-level (components summed over utterances). ``by_num_spk`` repeats
DER, SI-SDR(i), WER and cpWER over the utterances of each reference speaker count K, from
the same single pass (so "transcribes single speakers" and "transcribes overlaps" are
told apart). An utterance of the
reference that a task's hypothesis files do not list is scored as "no output" for that
task (all speech missed, K̂ = 0, ...) and counted in that task's ``num_utts_missing``.
"""

import json
import math
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from espnet_echo.data.datadir import DataDir, load_data_dir
from espnet_echo.data.labels import to_annotation
from espnet_echo.data.refs import line_of, read_indexed, read_num_spk
from espnet_echo.data.rttm import read_rttm
from espnet_echo.data.scp import load_entry
from espnet_echo.metrics.der import compute_der_collars
from espnet_echo.metrics.report import format_details, format_table, read_json_object
from espnet_echo.metrics.sisdr import SISDRStats, score_separation
from espnet_echo.metrics.speaker_count import speaker_count_stats
from espnet_echo.metrics.wer import WERStats, cp_wer, pit_wer
from espnet_echo.utils.fileio import DataFileError, atomic_open

PathLike = Union[str, Path]
SCORES_VERSION = 1


def _require(path: Path, task: str) -> Path:
    if not path.is_file():
        raise DataFileError(f"{path}: file not found (needed to score {task})")
    return path


def reference_labels(
    ref: DataDir, utt: str
) -> Tuple["object", List[Tuple[float, float]]]:
    """Reference turns of ``utt`` (a pyannote Annotation) and its scored region.

    Args:
        ref: The reference dir.
        utt: Utterance id.

    Returns:
        ``(annotation, uem)``: turns in utterance time (seconds), and the ``uem`` ranges
        of the utterance, or ``[(0, length of its audio)]`` without ``uem``.

    Raises:
        DataFileError, AudioError: see :meth:`DataDir.read_audio` and
            :meth:`DataDir.labels`.
    """
    _, cut = ref.read_audio(utt)
    labels = ref.labels(utt, cut, cut.rate, cut.length)
    uem = [(0.0, cut.length / cut.rate)]
    if labels.uem is not None:
        uem = [(float(t.start), float(t.end)) for t in labels.uem]
    return to_annotation(labels.seconds or [], uri=utt), uem


#: Utterance -> group key (the reference speaker count K, as a string).
Groups = Mapping[str, str]


def _by_group(groups: Optional[Groups], utts: Sequence[str]) -> Dict[str, List[str]]:
    """``{group: [utts]}`` in sorted group order ({} without groups)."""
    out: Dict[str, List[str]] = {}
    for utt in utts:
        if groups is not None:
            out.setdefault(groups[utt], []).append(utt)
    return dict(sorted(out.items(), key=lambda kv: (len(kv[0]), kv[0])))


def score_diarization(
    ref: DataDir,
    hyp_dir: Path,
    collars: Sequence[float],
    groups: Optional[Groups] = None,
) -> Tuple[Optional[List[Dict[str, object]]], Dict[str, List[Dict[str, object]]]]:
    """DER at each collar, or None without a hypothesis ``rttm``.

    Args:
        ref: Reference dir (needs ``rttm`` or ``espnet_rttm``; ``uem`` is used when
            present, see the module docstring).
        hyp_dir: Hypothesis dir.
        collars: Collars in seconds on each side of reference boundaries.
        groups: Optional group of each utterance (e.g. its speaker count).

    Returns:
        One :meth:`DERResult.to_dict` per collar (or None), and the same over the
        utterances of each group (``{}`` without groups or hypothesis).

    Raises:
        DataFileError, AudioError: missing or malformed file; the message names it.
    """
    hyp_path = hyp_dir / "rttm"
    if not hyp_path.is_file():
        return None, {}
    if ref.rttm is None and ref.espnet_rttm is None:
        _require(ref.path / "rttm", "diarization")
    hyps = read_rttm(hyp_path, known_utts=ref.wav)
    refs, uems = {}, {}
    for utt in ref.utts:
        refs[utt], uems[utt] = reference_labels(ref, utt)
    def der(utts: Sequence[str]) -> List[Dict[str, object]]:
        sub = lambda d: {u: d[u] for u in utts if u in d}  # noqa: E731
        results = compute_der_collars(sub(refs), sub(hyps), None, collars, uems=sub(uems))
        return [r.to_dict() for r in results]

    return der(ref.utts), {g: der(u) for g, u in _by_group(groups, ref.utts).items()}


def score_separation_dirs(
    ref: DataDir, hyp_dir: Path, fs: int, groups: Optional[Groups] = None
) -> Tuple[Optional[Dict[str, object]], Dict[str, Dict[str, object]]]:
    """PIT SI-SDR / SI-SDRi, or None without hypothesis ``spk{n}.scp``.

    Args:
        ref: Reference dir (clean sources: ``spk{n}.scp`` or ``speech_ref.scp``).
        hyp_dir: Hypothesis dir.
        fs: Sample rate (Hz) every file must have.
        groups: Optional group of each utterance (e.g. its speaker count).

    Returns:
        :meth:`SISDRStats.to_dict` (dB) or None, and the same per group (``{}``
        without groups or hypothesis).

    Raises:
        DataFileError, AudioError: missing, malformed or mismatched (length, sample rate)
            file; the message names ``file:line``.
    """
    hyps = read_indexed(hyp_dir, "scp", known_utts=ref.wav)
    if hyps is None:
        return None, {}
    if not ref.spk:
        raise DataFileError(
            f"{ref.path / 'spk1.scp'}: file not found, nor speech_ref.scp (needed to score "
            f"separation)"
        )
    stats = SISDRStats()
    per_group = {g: SISDRStats() for g in _by_group(groups, ref.utts)}
    for utt in ref.utts:
        mix, _ = ref.read_audio(utt, "mix", fs=fs)
        mix_entry, _ = ref.audio_entry(utt)
        sigs = {}
        refs = []
        for n in range(1, len(ref.sources(utt)) + 1):
            x, _ = ref.read_audio(utt, n, fs=fs, allow_silent=False)
            entry, where = ref.audio_entry(utt, n)
            refs.append((x, f"{where}: {entry}"))
        ests = []
        for path, scp in hyps.get(utt, []):
            where = f"{scp}:{line_of(scp, utt)}"
            ests.append((load_entry(path, where, fs), f"{where}: {path}"))
        for side, entries in (("reference", refs), ("estimate", ests)):
            for x, where in entries:
                if x.shape[0] != mix.shape[0]:
                    raise DataFileError(
                        f"{where}: {side} has {x.shape[0]} samples, the mixture "
                        f"{mix_entry} has {mix.shape[0]}"
                    )
            sigs[side] = (
                np.stack([x for x, _ in entries]) if entries else np.zeros((0, mix.shape[0]))
            )
        score = score_separation(sigs["reference"], sigs["estimate"], mix)
        stats.add(score, missing=utt not in hyps)
        if groups is not None:
            per_group[groups[utt]].add(score, missing=utt not in hyps)
    return stats.to_dict(), {g: st.to_dict() for g, st in per_group.items()}


def score_asr(
    ref: DataDir, hyp_dir: Path, groups: Optional[Groups] = None
) -> Tuple[
    Optional[Dict[str, object]],
    Optional[Dict[str, object]],
    Dict[str, Dict[str, Dict[str, object]]],
]:
    """(PIT WER, cpWER), or (None, None) without hypothesis ``text_spk{n}``.

    Args:
        ref: Reference dir (``text_spk{n}``, or Kaldi's ``text`` for one speaker).
        hyp_dir: Hypothesis dir.
        groups: Optional group of each utterance (e.g. its speaker count).

    Returns:
        Two :meth:`WERStats.to_dict` (WER in %) or (None, None), and
        ``{group: {"wer": ..., "cpwer": ...}}`` (``{}`` without groups or hypothesis).

    Raises:
        DataFileError: missing or malformed file; the message names it.
    """
    hyps = read_indexed(hyp_dir, "text", known_utts=ref.wav)
    if hyps is None:
        return None, None, {}
    if not ref.text:
        raise DataFileError(f"{ref.path / 'text_spk1'}: file not found (needed to score ASR)")
    totals = {g: [WERStats(), WERStats()] for g in [None, *_by_group(groups, ref.utts)]}
    for utt in ref.utts:
        r = ref.texts(utt)
        h = [t for t, _ in hyps.get(utt, [])]
        missing = WERStats(num_utts_missing=int(utt not in hyps))
        utt_pit, utt_cp = pit_wer(r, h)[0] + missing, cp_wer(r, h) + missing
        for g in {None, None if groups is None else groups[utt]}:
            totals[g] = [totals[g][0] + utt_pit, totals[g][1] + utt_cp]
    pit, cp = totals.pop(None)
    by_group = {g: {"wer": p.to_dict(), "cpwer": c.to_dict()} for g, (p, c) in totals.items()}
    return pit.to_dict(), cp.to_dict(), by_group


def reference_num_spk(ref: DataDir, utt: str) -> int:
    """K of ``utt`` as the data-dir reader counts it (from its labels if nothing else)."""
    if utt not in ref.num_spk:  # recording-level labels: K comes with the cut
        reference_labels(ref, utt)
    if utt not in ref.num_spk:
        raise DataFileError(f"{ref.path / 'utt2num_spk'}: no entry for utterance {utt!r}")
    return ref.num_spk[utt]


def reference_groups(ref: DataDir) -> Optional[Dict[str, str]]:
    """Each utterance's reference speaker count as a string, or None if one is unknown.

    Only counts known without reading audio are used (``utt2num_spk``, sources,
    transcripts, ``utt2spks``); a dir whose counts come from recording-level labels is
    not grouped.
    """
    if any(u not in ref.num_spk for u in ref.utts):
        return None
    return {u: str(ref.num_spk[u]) for u in ref.utts}


def score_speaker_count(ref: DataDir, hyp_dir: Path) -> Optional[Dict[str, object]]:
    """Speaker-count accuracy and mean |K̂ - K|, or None without ``utt2num_spk``.

    Args:
        ref: Reference dir.
        hyp_dir: Hypothesis dir.

    Returns:
        :meth:`SpeakerCountStats.to_dict`, or None.

    Raises:
        DataFileError: missing or malformed file, or an utterance without reference K.
    """
    hyp_path = hyp_dir / "utt2num_spk"
    if not hyp_path.is_file():
        return None
    truth = {u: reference_num_spk(ref, u) for u in ref.utts}
    hyp = read_num_spk(hyp_path, known_utts=ref.wav)
    return speaker_count_stats(truth, hyp).to_dict()


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
        ref_dir: Reference data dir or ``format_data`` dump dir (module docstring).
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
        by_num_spk: {"K": {num_utts, der, sisdr, wer, cpwer}}: the same scores over the
                    utterances with K reference speakers ({} when a K is unknown)
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
    _require(ref_dir / "wav.scp", "anything")
    for c in collars:
        if not (math.isfinite(c) and c >= 0):
            raise ValueError(f"--collar must be finite and >= 0, got {c}")
    ref = load_data_dir(ref_dir)
    ref.check_complete()
    groups = reference_groups(ref)
    der, der_k = score_diarization(ref, hyp_dir, collars, groups)
    sisdr, sisdr_k = score_separation_dirs(ref, hyp_dir, fs, groups)
    wer, cpwer, asr_k = score_asr(ref, hyp_dir, groups)
    by_num_spk = {
        k: {
            "num_utts": sum(1 for u in ref.utts if groups[u] == k),
            "der": der_k.get(k),
            "sisdr": sisdr_k.get(k),
            "wer": asr_k.get(k, {}).get("wer"),
            "cpwer": asr_k.get(k, {}).get("cpwer"),
        }
        for k in _by_group(groups, ref.utts)
    }
    return {
        "name": name,
        "ref_dir": str(ref_dir.resolve()),
        "hyp_dir": str(hyp_dir.resolve()),
        "num_utts": len(ref.utts),
        "fs": fs,
        "version": SCORES_VERSION,
        "der": der,
        "sisdr": sisdr,
        "wer": wer,
        "cpwer": cpwer,
        "speaker_count": score_speaker_count(ref, hyp_dir),
        "by_num_spk": by_num_spk,
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

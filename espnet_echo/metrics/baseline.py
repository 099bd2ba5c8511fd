# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Reference-derived hypothesis dirs (docs/CONTRACT.md), scored beside the models.

Kinds:
    ``oracle``: the reference ``rttm``, ``utt2num_spk``, sources and transcripts as the
        hypothesis: DER 0, WER 0, K accuracy 100 %, SI-SDR at the clamp (100 dB).
    ``one_speaker``: the trivial system: K̂ = 1 for every mixture, the union of all
        reference speech as one speaker (``rttm``), the mixture itself as the one
        separated source (SI-SDRi 0 dB) and an empty transcript (WER 100 %).

The reference is read by the one data-dir reader
(:func:`espnet_echo.data.datadir.load_data_dir`): a contract data dir or its
``format_data`` dump dir, with ``segments``, pipes and the other conventions it supports.
Files keyed by utterance (an utterance-level ``rttm``, ``utt2num_spk``) are copied
verbatim; recording-level labels are cut to each segment and written in utterance time
(:func:`espnet_echo.metrics.scoring.reference_labels`); with ``segments`` the audio of each
utterance (sources, or the mixture for ``one_speaker``) is cut and written to
``<out_dir>/wav/`` (float WAV at its own rate), since a hypothesis lists utterance audio.
Only the tasks the reference dir has are written; numbered files of a previous run
(``spk{n}.scp``, ``text_spk{n}``) that this run does not write are removed, so the dir
holds exactly one hypothesis.
"""

import re
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Union

import soundfile
from pyannote.core import Annotation
from pyannote.core import Segment as PSegment

from espnet_echo.data.datadir import DataDir, load_data_dir
from espnet_echo.data.rttm import write_rttm
from espnet_echo.metrics.scoring import reference_labels, reference_num_spk
from espnet_echo.utils.fileio import DataFileError, atomic_open, write_kaldi_map

PathLike = Union[str, Path]
KINDS = ("oracle", "one_speaker")
_NUMBERED = re.compile(r"^(spk\d+\.scp|text_spk\d+)$")


def _copy(src: Path, dst: Path) -> None:
    with open(src, encoding="utf-8") as fin, atomic_open(dst) as fout:
        fout.write(fin.read())


def _write_numbered(
    out_dir: Path, name: str, lists: Mapping[str, Sequence[str]]
) -> List[Path]:
    """Write ``name.format(n)`` for n = 1..max, listing utterances with >= n entries."""
    written = []
    for n in range(1, max((len(v) for v in lists.values()), default=0) + 1):
        path = out_dir / name.format(n)
        write_kaldi_map(path, {utt: v[n - 1] for utt, v in lists.items() if len(v) >= n})
        written.append(path)
    return written


def _utt_audio(ref: DataDir, utt: str, which, out_dir: Path) -> str:
    """An scp entry of the audio of ``utt`` (``"mix"`` or source n) in utterance time.

    Without ``segments`` the reference entry itself; with ``segments`` the cut audio,
    written to ``<out_dir>/wav/<utt>_<which>.wav``.
    """
    if ref.segments is None:
        return ref.audio_entry(utt, which)[0]
    wav, cut = ref.read_audio(utt, which)
    path = out_dir / "wav" / f"{utt}_{which if which == 'mix' else f'spk{which}'}.wav"
    path.parent.mkdir(exist_ok=True)
    soundfile.write(path, wav, cut.rate, subtype="FLOAT")
    return str(path.resolve())


def _has_labels(ref: DataDir) -> bool:
    return ref.rttm is not None or ref.espnet_rttm is not None


def _labels_rttm(ref: DataDir, out_dir: Path, one_speaker: bool) -> Path:
    """Reference turns of every utterance (or their union as ``spk1``) as ``rttm``."""
    hyps: Dict[str, Annotation] = {}
    utt_level = ref.rttm is not None and ref.rttm_level == "utt"
    for utt in ref.utts:
        if utt_level:  # already in utterance time: no audio needed
            ann = Annotation(uri=utt)
            for seg in ref.rttm.get(utt, []):
                ann[PSegment(seg.start, seg.end), f"L{seg.lineno}"] = seg.spk
        else:
            ann = reference_labels(ref, utt)[0]
        if one_speaker:
            union = Annotation(uri=utt)
            for seg in ann.get_timeline().support():
                union[seg] = "spk1"
            ann = union
        hyps[utt] = ann
    write_rttm(out_dir / "rttm", hyps, decimals=6 if not one_speaker else 3)
    return out_dir / "rttm"


def make_oracle(ref_dir: PathLike, out_dir: PathLike) -> List[Path]:
    """Write the reference answers into ``out_dir`` (an existing dir).

    An utterance-level ``rttm`` and ``utt2num_spk`` are copied verbatim (else written from
    the reader's labels and counts); sources and transcripts are rewritten in the
    hypothesis layout (``spk{n}.scp`` / ``text_spk{n}`` only for mixtures with K >= n).
    Returns the files written; errors as :func:`make_baseline_hyp`.
    """
    ref_dir, out_dir = Path(ref_dir), Path(out_dir)
    ref = load_data_dir(ref_dir)
    try:
        ref.check_complete()
        num_spk = {utt: reference_num_spk(ref, utt) for utt in ref.utts}
    except DataFileError as e:
        if (ref_dir / "utt2num_spk").is_file():
            raise
        raise DataFileError(f"{ref_dir / 'utt2num_spk'}: file not found ({e})") from e
    written = []
    if ref.rttm is not None and ref.rttm_level == "utt" and ref.reco2file_and_channel is None:
        _copy(ref_dir / "rttm", out_dir / "rttm")
        written.append(out_dir / "rttm")
    elif _has_labels(ref):
        written.append(_labels_rttm(ref, out_dir, one_speaker=False))
    if (ref_dir / "utt2num_spk").is_file():
        _copy(ref_dir / "utt2num_spk", out_dir / "utt2num_spk")
    else:
        write_kaldi_map(out_dir / "utt2num_spk", num_spk)
    written.append(out_dir / "utt2num_spk")
    if ref.spk:
        lists = {}
        for utt in ref.utts:
            num = len(ref.sources(utt))
            lists[utt] = [_utt_audio(ref, utt, n, out_dir) for n in range(1, num + 1)]
        written += _write_numbered(out_dir, "spk{}.scp", lists)
    if ref.text:
        written += _write_numbered(out_dir, "text_spk{}", {u: ref.texts(u) for u in ref.utts})
    return written


def make_one_speaker(ref_dir: PathLike, out_dir: PathLike) -> List[Path]:
    """Write the one-speaker baseline into ``out_dir`` (an existing dir).

    Returns the files written; errors as :func:`make_baseline_hyp`.
    """
    ref_dir, out_dir = Path(ref_dir), Path(out_dir)
    ref = load_data_dir(ref_dir)
    written = []
    if _has_labels(ref):
        written.append(_labels_rttm(ref, out_dir, one_speaker=True))
    write_kaldi_map(out_dir / "utt2num_spk", {utt: 1 for utt in ref.utts})
    written.append(out_dir / "utt2num_spk")
    if ref.spk:
        write_kaldi_map(
            out_dir / "spk1.scp", {u: _utt_audio(ref, u, "mix", out_dir) for u in ref.utts}
        )
        written.append(out_dir / "spk1.scp")
    if ref.text:
        write_kaldi_map(out_dir / "text_spk1", {utt: "" for utt in ref.utts})
        written.append(out_dir / "text_spk1")
    return written


def make_baseline_hyp(ref_dir: PathLike, out_dir: PathLike, kind: str) -> List[Path]:
    """Write baseline ``kind`` (``oracle`` or ``one_speaker``) and drop stale numbered files.

    Args:
        ref_dir: Reference data or dump dir.
        out_dir: Hypothesis dir (created if needed).
        kind: One of :data:`KINDS`.

    Returns:
        The files written.

    Raises:
        ValueError: unknown ``kind``.
        DataFileError: the reference dir lacks ``wav.scp`` (or, for oracle,
            ``utt2num_spk`` when nothing else gives K), or any problem the data-dir reader
            finds; the message names ``file:line``.
        AudioError: unreadable reference audio (read for labels and cut segments).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}, expected one of {KINDS}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = (make_oracle if kind == "oracle" else make_one_speaker)(ref_dir, out_dir)
    keep = {p.name for p in written}
    for p in out_dir.iterdir():
        if _NUMBERED.match(p.name) and p.name not in keep:
            p.unlink()
    if "rttm" not in keep and (out_dir / "rttm").is_file():
        (out_dir / "rttm").unlink()
    return written

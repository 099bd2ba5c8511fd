# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Reference-derived hypothesis dirs (docs/CONTRACT.md), scored beside the models.

Kinds:
    ``oracle``: the reference ``rttm``, ``utt2num_spk``, sources and transcripts as the
        hypothesis: DER 0, WER 0, K accuracy 100 %, SI-SDR at the clamp (100 dB).
    ``one_speaker``: the trivial system: K̂ = 1 for every mixture, the union of all
        reference speech as one speaker (``rttm``), the mixture itself as the one
        separated source (SI-SDRi 0 dB) and an empty transcript (WER 100 %).

The reference may be a contract data dir or its ``format_data`` dump dir. Only the tasks
the reference dir has are written; numbered files of a previous run (``spk{n}.scp``,
``text_spk{n}``) that this run does not write are removed, so the dir holds exactly one
hypothesis.
"""

import re
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Union

from pyannote.core import Annotation

from espnet_echo.data.refs import read_num_spk, read_ref_sources, read_ref_texts
from espnet_echo.data.rttm import read_rttm, write_rttm
from espnet_echo.utils.fileio import (
    DataFileError,
    atomic_open,
    read_kaldi_map,
    write_kaldi_map,
)

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


def make_oracle(ref_dir: PathLike, out_dir: PathLike) -> List[Path]:
    """Write the reference answers into ``out_dir`` (an existing dir).

    ``rttm`` and ``utt2num_spk`` are copied verbatim; sources and transcripts are
    rewritten in the hypothesis layout (``spk{n}.scp`` / ``text_spk{n}`` only for
    mixtures with K >= n), from either a data dir or a dump dir (``speech_ref.scp``).
    Returns the files written; errors as :func:`make_baseline_hyp`.
    """
    ref_dir, out_dir = Path(ref_dir), Path(out_dir)
    wavs = read_kaldi_map(ref_dir / "wav.scp", num_fields=1)
    if not (ref_dir / "utt2num_spk").is_file():
        raise DataFileError(f"{ref_dir / 'utt2num_spk'}: file not found")
    read_num_spk(ref_dir / "utt2num_spk", known_utts=wavs)  # validate before copying
    written = []
    if (ref_dir / "rttm").is_file():
        read_rttm(ref_dir / "rttm", known_utts=wavs)
        _copy(ref_dir / "rttm", out_dir / "rttm")
        written.append(out_dir / "rttm")
    _copy(ref_dir / "utt2num_spk", out_dir / "utt2num_spk")
    written.append(out_dir / "utt2num_spk")
    sources = read_ref_sources(ref_dir, wavs)
    if sources is not None:
        lists = {utt: [p for p, _ in v] for utt, v in sources.items()}
        written += _write_numbered(out_dir, "spk{}.scp", lists)
    texts = read_ref_texts(ref_dir, wavs)
    if texts is not None:
        lists = {utt: [t for t, _ in v] for utt, v in texts.items()}
        written += _write_numbered(out_dir, "text_spk{}", lists)
    return written


def make_one_speaker(ref_dir: PathLike, out_dir: PathLike) -> List[Path]:
    """Write the one-speaker baseline into ``out_dir`` (an existing dir).

    Returns the files written; errors as :func:`make_baseline_hyp`.
    """
    ref_dir, out_dir = Path(ref_dir), Path(out_dir)
    wavs = read_kaldi_map(ref_dir / "wav.scp", num_fields=1)
    written = []
    if (ref_dir / "rttm").is_file():
        refs = read_rttm(ref_dir / "rttm", known_utts=wavs)
        hyps: Dict[str, Annotation] = {}
        for utt in wavs:
            ann = Annotation(uri=utt)
            if utt in refs:
                for seg in refs[utt].get_timeline().support():
                    ann[seg] = "spk1"
            hyps[utt] = ann
        write_rttm(out_dir / "rttm", hyps)
        written.append(out_dir / "rttm")
    write_kaldi_map(out_dir / "utt2num_spk", {utt: 1 for utt in wavs})
    written.append(out_dir / "utt2num_spk")
    if (ref_dir / "spk1.scp").is_file() or (ref_dir / "speech_ref.scp").is_file():
        write_kaldi_map(out_dir / "spk1.scp", wavs)
        written.append(out_dir / "spk1.scp")
    if (ref_dir / "text_spk1").is_file():
        write_kaldi_map(out_dir / "text_spk1", {utt: "" for utt in wavs})
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
        DataFileError: the reference dir lacks ``wav.scp`` (or ``utt2num_spk`` for oracle)
            or has a malformed ``rttm``.
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

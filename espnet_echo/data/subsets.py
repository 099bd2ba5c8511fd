# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Derived training sets: mixtures of given speaker counts, clean sources as utterances.

Two ways of making the ASR path learn before it sees overlap (issue 12, "ASR head
initialised from single-speaker training on the clean sources"; UME, Shi et al. 2025,
reports that 3-speaker training diverges without it):

* :func:`select_num_spk` keeps the mixtures with K in a given set (a K=1-first
  curriculum, or scoring single-speaker mixtures alone);
* :func:`sources_as_utterances` turns every clean source of every mixture into a
  one-speaker utterance ``<mix>_s<n>`` with its own transcript, which gives the
  single-speaker CTC ~2x as many utterances as the mixtures (1-3 sources each).

Both read through :func:`espnet_echo.data.datadir.load_data_dir` (the one reader, so the
same dirs are accepted and refused as everywhere else) and write a plain one-reader-
compatible dir: ``wav.scp``, ``text_spk{n}``, ``utt2num_spk``, ``utt2num_samples`` (also
usable as ESPnet's ``speech_shape`` file), ``utt2spk``/``spk2utt`` when the speakers are
known, and ``subset.json`` (what it was made from). The dir is written through
:func:`espnet_echo.utils.fileio.staged_dir` (complete or absent; an existing dir is only
replaced when it holds ``subset.json``).
"""

import json
from pathlib import Path
from typing import Collection, Dict, List, Optional, Union

from espnet_echo.data.datadir import load_data_dir
from espnet_echo.utils.fileio import DataFileError, staged_dir, write_kaldi_map

PathLike = Union[str, Path]

#: The stamp of a derived dir (its source and selection).
STAMP = "subset.json"


def _write(dst: PathLike, rows: List[Dict], stamp: Dict) -> Path:
    """Write utterance rows (``utt``, ``wav``, ``texts``, ``num_samples``, ``spks``)."""
    if not rows:
        raise DataFileError(f"{dst}: no utterance selected; nothing written")
    with staged_dir(dst, STAMP) as tmp:
        (tmp / STAMP).write_text(json.dumps(dict(stamp, num_utts=len(rows)), indent=1) + "\n")
        write_kaldi_map(tmp / "wav.scp", {r["utt"]: r["wav"] for r in rows})
        write_kaldi_map(tmp / "utt2num_spk", {r["utt"]: r["num_spk"] for r in rows})
        num_text = max(len(r["texts"]) for r in rows)
        for n in range(1, num_text + 1):
            write_kaldi_map(tmp / f"text_spk{n}",
                            {r["utt"]: r["texts"][n - 1] if n <= len(r["texts"]) else ""
                             for r in rows})
        if all(r["num_samples"] is not None for r in rows):
            write_kaldi_map(tmp / "utt2num_samples", {r["utt"]: r["num_samples"] for r in rows})
        if all(r["spks"] for r in rows):
            write_kaldi_map(tmp / "utt2spks", {r["utt"]: " ".join(r["spks"]) for r in rows})
    return Path(dst)


def select_num_spk(src: PathLike, dst: PathLike, num_spk: Collection[int]) -> int:
    """Copy the utterances of ``src`` whose speaker count K is in ``num_spk`` to ``dst``.

    Args:
        src: A data dir or a ``format_data`` dump (audio is referenced, not copied).
        dst: Output dir.
        num_spk: Speaker counts to keep, e.g. ``{1}``.

    Returns:
        The number of utterances written.

    Raises:
        DataFileError: a bad ``src`` (named ``file:line``), an utterance whose K is
            unknown, or no utterance with such a K (nothing is written then).
    """
    ddir = load_data_dir(src)
    keep = set(int(k) for k in num_spk)
    rows = []
    for utt in ddir.utts:
        if utt not in ddir.num_spk:
            raise DataFileError(f"{ddir.where('wav.scp', utt)}: the speaker count of {utt!r} "
                                "is unknown (no utt2num_spk, spk*.scp or text_spk*)")
        k = ddir.num_spk[utt]
        if k not in keep:
            continue
        if ddir.segments is not None:
            raise DataFileError(f"{ddir.path / 'segments'}: dirs with segments are not supported")
        rows.append({
            "utt": utt, "wav": ddir.wav[utt], "texts": ddir.texts(utt), "num_spk": k,
            "num_samples": (ddir.utt2num_samples or {}).get(utt),
            "spks": (ddir.utt2spks or {}).get(utt, []),
        })
    _write(dst, rows, {"source": str(Path(src).resolve()), "num_spk": sorted(keep)})
    return len(rows)


def sources_as_utterances(src: PathLike, dst: PathLike,
                          num_samples: Optional[Dict[str, int]] = None) -> int:
    """Write each clean source of each mixture of ``src`` as a one-speaker utterance.

    Utterance ``<mix>_s<n>`` is source n of mixture ``<mix>`` (its ``spk{n}.scp`` entry or
    the n-th path of a dump's ``speech_ref.scp``) with transcript ``text_spk{n}``. The
    sources of the mini corpus are as long as their mixture (silence around the
    speech), so ``utt2num_samples`` is the mixture's.

    Args:
        src: A data dir or ``format_data`` dump with sources and transcripts.
        dst: Output dir.
        num_samples: Lengths to use instead of ``src``'s ``utt2num_samples``.

    Returns:
        The number of utterances written.

    Raises:
        DataFileError: a bad ``src`` (named ``file:line``), a mixture without sources or
            with fewer transcripts than sources (named).
    """
    ddir = load_data_dir(src)
    lengths = num_samples if num_samples is not None else (ddir.utt2num_samples or {})
    if ddir.segments is not None:
        raise DataFileError(f"{ddir.path / 'segments'}: dirs with segments are not supported")
    rows = []
    for utt in ddir.utts:
        sources, texts = ddir.sources(utt), ddir.texts(utt)
        if not sources:
            raise DataFileError(f"{ddir.where('wav.scp', utt)}: {utt!r} has no clean sources "
                                f"({ddir.source_file.format('N')})")
        if len(texts) < len(sources):
            raise DataFileError(f"{ddir.where('wav.scp', utt)}: {utt!r} has {len(sources)} "
                                f"sources but {len(texts)} transcripts")
        spks = (ddir.utt2spks or {}).get(utt, [])
        for n, (entry, text) in enumerate(zip(sources, texts), 1):
            rows.append({
                "utt": f"{utt}_s{n}", "wav": entry, "texts": [text], "num_spk": 1,
                "num_samples": lengths.get(utt),
                "spks": [spks[n - 1]] if len(spks) >= n else [],
            })
    _write(dst, rows, {"source": str(Path(src).resolve()), "sources_as_utterances": True})
    return len(rows)

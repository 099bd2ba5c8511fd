# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Per-speaker reference and hypothesis files of a data dir (formats: docs/CONTRACT.md).

Reads the numbered per-speaker files (``spk{n}.scp``, ``text_spk{n}``), ``utt2num_spk``
and the clean sources of either layout of a reference dir: a contract data dir
(``data/<split>``) or its ``format_data`` dump (``dump/raw/<split>``: ``speech_ref.scp``
instead of ``spk{n}.scp``, ``text_spk{n}`` for every utterance, cut to K with
``utt2num_spk``). Used by scoring, the reference-derived baselines and the probes.

Every error is a :class:`~espnet_echo.utils.fileio.DataFileError` whose message names the
file and, where there is one, the line (``path:line``).
"""

import random
import re
from pathlib import Path
from typing import Collection, Dict, List, Optional, Tuple, Union

from espnet_echo.utils.fileio import DataFileError, read_kaldi_map

PathLike = Union[str, Path]
# {utt: [(value, file the value came from), ...]} in speaker order
Indexed = Dict[str, List[Tuple[str, Path]]]

_INDEXED = {"scp": re.compile(r"^spk(\d+)\.scp$"), "text": re.compile(r"^text_spk(\d+)$")}
_INDEXED_NAME = {"scp": "spk{}.scp", "text": "text_spk{}"}


def line_of(path: PathLike, key: str) -> int:
    """1-based number of the first line of ``path`` whose first field is ``key``.

    Args:
        path: Kaldi-style ``<key> <value>`` file.
        key: The key to look for.

    Returns:
        The line number, or 0 when no line has that key.
    """
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split(maxsplit=1)
            if fields and fields[0] == key:
                return lineno
    return 0


def check_known(path: Path, keys: Collection[str], known: Optional[Collection[str]]) -> None:
    """Error on the first of ``keys`` (read from ``path``) that is not in ``known``.

    Raises:
        DataFileError: ``path:line: utterance ... is not in the reference``.
    """
    if known is None:
        return
    for key in keys:
        if key not in known:
            raise DataFileError(
                f"{path}:{line_of(path, key)}: utterance {key!r} is not in the reference"
            )


def read_num_spk(
    path: PathLike, known_utts: Optional[Collection[str]] = None
) -> Dict[str, int]:
    """Read ``utt2num_spk`` (``<utt> <K>``, K a non-negative integer).

    Args:
        path: The ``utt2num_spk`` file.
        known_utts: If given, an utterance outside it is an error.

    Returns:
        ``{utt: K}``.

    Raises:
        DataFileError: malformed line or unknown utterance; the message names ``path:line``.
    """
    path = Path(path)
    raw = read_kaldi_map(path, num_fields=1)
    check_known(path, raw, known_utts)
    out = {}
    for utt, value in raw.items():
        try:
            k = int(value)
        except ValueError:
            k = -1
        if k < 0:
            raise DataFileError(
                f"{path}:{line_of(path, utt)}: speaker count must be an integer >= 0, "
                f"got {value!r}"
            )
        out[utt] = k
    return out


def read_indexed(
    directory: PathLike, kind: str, known_utts: Optional[Collection[str]] = None
) -> Optional[Indexed]:
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
    name = _INDEXED_NAME[kind]
    top = max(found)
    for n in range(1, top + 1):
        if n not in found:
            raise DataFileError(
                f"{directory / name.format(n)}: file not found, but {name.format(top)} exists "
                f"(per-speaker files must be numbered 1..N)"
            )
    out: Indexed = {}
    for n in range(1, top + 1):
        path = found[n]
        if kind == "scp":
            entries = read_kaldi_map(path, num_fields=1)
        else:
            entries = read_kaldi_map(path, allow_empty_value=True)
        check_known(path, entries, known_utts)
        for utt, value in entries.items():
            lst = out.setdefault(utt, [])
            if len(lst) != n - 1:
                raise DataFileError(
                    f"{path}:{line_of(path, utt)}: utterance {utt!r} is listed here but "
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
            f"{num_spk}:{line_of(num_spk, utt)} says K={k}"
        )
    return entries


def read_ref_sources(ref_dir: PathLike, known_utts: Collection[str]) -> Optional[Indexed]:
    """Reference sources of a contract data dir or of a ``format_data`` dump dir.

    Reads ``spk{n}.scp`` (data dir) or else ``speech_ref.scp``
    (``<utt> <spk1 path> ... <spkK path>``, dump dir). When the dir has ``utt2num_spk``,
    each utterance must have exactly K sources.

    Args:
        ref_dir: Data or dump dir.
        known_utts: The utterances of the dir (``wav.scp`` keys); others are an error.

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
        check_known(first, raw, known_utts)
        out = {utt: [(p, first) for p in value.split()] for utt, value in raw.items()}
    num_spk = _ref_num_spk(ref_dir, known_utts)
    if num_spk is not None:
        for utt, k in num_spk.items():
            _check_count(ref_dir, utt, out.get(utt, []), k, first, "reference sources")
    return out


def read_ref_texts(ref_dir: PathLike, known_utts: Collection[str]) -> Optional[Indexed]:
    """Reference transcripts of a contract data dir or of a ``format_data`` dump dir.

    A dump dir lists every utterance in every ``text_spk{n}`` (``<utt>`` alone for
    n > K); with ``utt2num_spk`` the lists are cut to K entries, and a non-empty
    transcript beyond K, or fewer than K transcripts, is an error.

    Args:
        ref_dir: Data or dump dir.
        known_utts: The utterances of the dir (``wav.scp`` keys); others are an error.

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
                    f"{path}:{line_of(path, utt)}: utterance {utt!r} has K={k} speakers "
                    f"(utt2num_spk) but a transcript for a speaker beyond K"
                )
        out[utt] = _check_count(
            ref_dir, utt, entries[:k], k, ref_dir / "text_spk1", "transcripts"
        )
    return out


def read_labelled_sources(
    data_dir: PathLike, max_utts: Optional[int] = None, seed: int = 0
) -> List[Dict[str, str]]:
    """The clean sources of (a seeded subset of) the mixtures, with speaker and transcript.

    Source n of a mixture is speaker ``utt2spks`` column n; its transcript is
    ``text_spk{n}`` ("" without transcripts).

    Args:
        data_dir: Data or dump dir with ``wav.scp``, clean sources (``spk{n}.scp`` or
            ``speech_ref.scp``), ``utt2spks`` and optionally ``text_spk{n}``.
        max_utts: Keep a seeded random subset of this many mixtures (None: all).
        seed: Seed of the subset.

    Returns:
        ``[{"utt", "wav", "spk", "text"}, ...]``, mixtures in sorted order, sources in
        speaker order.

    Raises:
        DataFileError: no clean sources, a source without a speaker label, no source at
            all, or a malformed file; the message names the file.
    """
    data_dir = Path(data_dir)
    wavs = read_kaldi_map(data_dir / "wav.scp")
    utts = sorted(wavs)
    if max_utts is not None and len(utts) > max_utts:
        utts = sorted(random.Random(seed).sample(utts, max_utts))
    sources = read_ref_sources(data_dir, wavs)
    if sources is None:
        raise DataFileError(f"{data_dir}: no spk{{n}}.scp or speech_ref.scp (clean sources)")
    texts = read_ref_texts(data_dir, wavs) or {}
    spks = read_kaldi_map(data_dir / "utt2spks")
    out = []
    for utt in utts:
        labels = spks.get(utt, "").split()
        for n, (wav, where) in enumerate(sources.get(utt, [])):
            if n >= len(labels):
                raise DataFileError(
                    f"{data_dir / 'utt2spks'}: utterance {utt!r} has {len(labels)} "
                    f"speakers but {where} lists source {n + 1}"
                )
            text = texts[utt][n][0] if utt in texts and n < len(texts[utt]) else ""
            out.append({"utt": utt, "wav": wav, "spk": labels[n], "text": text})
    if not out:
        raise DataFileError(f"{data_dir}: no sources")
    return out

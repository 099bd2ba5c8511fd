# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Hypothesis-dir files, and the labelled clean sources of a data dir.

Reference data dirs (a contract data dir or its ``format_data`` dump) are read by the one
data-dir reader, :func:`espnet_echo.data.datadir.load_data_dir` (``segments``, pipes,
arks, paths with spaces, ``speech_ref.scp``, padded ``text_spk{n}``). This module reads
what that reader does not serve: the simple layout of a hypothesis dir
(``utt2num_spk`` with K >= 0, numbered ``spk{n}.scp``/``text_spk{n}`` whose file names
follow the same rule, :func:`espnet_echo.data.datadir.indexed_files`), and it lists the
labelled clean sources of a data dir for the probes (:func:`read_labelled_sources`, on top
of :class:`~espnet_echo.data.datadir.DataDir`).

Every error is a :class:`~espnet_echo.utils.fileio.DataFileError` whose message names the
file and, where there is one, the line (``path:line``).
"""

import random
from pathlib import Path
from typing import Collection, Dict, List, Optional, Tuple, Union

from espnet_echo.data.datadir import (
    SPK_SCP,
    TEXT_SPK,
    DataDir,
    indexed_files,
    load_data_dir,
)
from espnet_echo.utils.fileio import DataFileError, read_kaldi_map

PathLike = Union[str, Path]
# {utt: [(value, file the value came from), ...]} in speaker order
Indexed = Dict[str, List[Tuple[str, Path]]]

_INDEXED = {"scp": SPK_SCP, "text": TEXT_SPK}
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

    Files must be numbered 1..N without gaps (names as
    :func:`~espnet_echo.data.datadir.indexed_files`), and an utterance listed in file n
    must be listed in files 1..n-1 (the contract writes output n only for mixtures with
    K >= n). A line of ``spk{n}.scp`` is ``<utt> <entry>``, the entry being the rest of
    the line (:mod:`espnet_echo.data.scp`).

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
    found = indexed_files(directory, _INDEXED[kind])
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
            entries = read_kaldi_map(path, num_fields=None)
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


def read_labelled_sources(
    data_dir: Union[PathLike, DataDir], max_utts: Optional[int] = None, seed: int = 0
) -> List[Dict[str, str]]:
    """The clean sources of (a seeded subset of) the mixtures, with speaker and transcript.

    Source n of a mixture is speaker ``utt2spks`` column n; its transcript is the n-th of
    :meth:`DataDir.texts` ("" without transcripts). Read the audio of the i-th source of a
    mixture with ``ddir.read_audio(utt, i)`` (sources are listed in speaker order, so i
    counts the entries of that ``utt``); with ``segments`` the entry is that of the
    recording and ``read_audio`` cuts it.

    Args:
        data_dir: Data or dump dir (or its :class:`DataDir`) with ``wav.scp``, clean
            sources (``spk{n}.scp`` or ``speech_ref.scp``), ``utt2spks`` and optionally
            transcripts.
        max_utts: Keep a seeded random subset of this many mixtures (None: all).
        seed: Seed of the subset.

    Returns:
        ``[{"utt", "wav", "spk", "text"}, ...]`` (``wav``: the scp entry), mixtures in
        sorted order, sources in speaker order.

    Raises:
        DataFileError: no clean sources, no ``utt2spks``, no source at all, or any
            problem of the data dir; the message names the file.
    """
    ddir = data_dir if isinstance(data_dir, DataDir) else load_data_dir(data_dir)
    utts = ddir.utts
    if max_utts is not None and len(utts) > max_utts:
        utts = sorted(random.Random(seed).sample(utts, max_utts))
    if not ddir.spk:
        raise DataFileError(f"{ddir.path}: no spk{{n}}.scp or speech_ref.scp (clean sources)")
    if ddir.utt2spks is None:
        raise DataFileError(f"{ddir.path / 'utt2spks'}: file not found (speaker labels)")
    out = []
    for utt in utts:
        labels = ddir.utt2spks.get(utt, [])
        texts = ddir.texts(utt)
        for n, wav in enumerate(ddir.sources(utt), 1):
            if n > len(labels):
                raise DataFileError(
                    f"{ddir.path / 'utt2spks'}: utterance {utt!r} has {len(labels)} "
                    f"speakers but {ddir.where_audio(ddir.source_file.format(n), utt)} "
                    f"lists source {n}"
                )
            text = texts[n - 1] if n <= len(texts) else ""
            out.append({"utt": utt, "wav": wav, "spk": labels[n - 1], "text": text})
    if not out:
        raise DataFileError(f"{ddir.path}: no sources")
    return out

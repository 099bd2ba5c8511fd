# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Training-speaker ids of the speaker head: the speaker list and per-dir ``spk_ids``.

* the speaker list (``--spk_list`` of EchoTask): the sorted speaker ids of a training
  dump's ``utt2spks``, one per line; its line count is the number of classes of the
  speaker head (:class:`espnet_echo.heads.spk_arcface.ArcFaceSpkHead`);
* ``<dir>/spk_ids`` (data name ``spk_ids``, ESPnet type ``text_int``):
  ``<utt> <id_1> ... <id_K>``, the line number (0-based) in the speaker list of each
  source in source order (``utt2spks``), ``-1`` for a speaker not in the list.

Data dirs are read with the one data-dir reader
(:func:`espnet_echo.data.datadir.load_data_dir`). The ``spk_ids`` columns must match the
columns of ``spk_labels``, which ESPnet's ``RttmReader`` numbers by first appearance in
``espnet_rttm``; ``format_data`` writes them in ``utt2spks`` order, and
:func:`spk_ids_of` checks it for every utterance-level ``espnet_rttm``.

The command line is :mod:`espnet_echo.bin.make_spk_ids`.
"""

import logging
from pathlib import Path
from typing import Dict, List, Sequence, Union

from espnet_echo.data.datadir import DataDir, load_data_dir
from espnet_echo.utils.fileio import DataFileError, atomic_open

PathLike = Union[str, Path]

#: File name of the per-dir ids (and the data name of the ``spk_ids`` reference kind).
SPK_IDS = "spk_ids"


def read_spk_list(path: PathLike) -> List[str]:
    """Read a speaker list: one speaker id per line.

    Args:
        path: The file.

    Returns:
        The ids in file order (the index of an id is its class).

    Raises:
        DataFileError: missing or empty file, a blank line, whitespace inside an id or
            a repeated id; the message names ``path[:line]``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: speaker list not found")
    ids: List[str] = []
    seen: Dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            spk = line.strip()
            if not spk:
                raise DataFileError(f"{path}:{lineno}: empty line in the speaker list")
            if len(spk.split()) != 1:
                raise DataFileError(
                    f"{path}:{lineno}: one speaker id per line, got {line.rstrip()!r}"
                )
            if spk in seen:
                raise DataFileError(
                    f"{path}:{lineno}: speaker {spk!r} repeated (first on line "
                    f"{seen[spk]})"
                )
            seen[spk] = lineno
            ids.append(spk)
    if not ids:
        raise DataFileError(f"{path}: the speaker list is empty")
    return ids


def _utt2spks(ddir: DataDir) -> Dict[str, List[str]]:
    if ddir.utt2spks is None:
        raise DataFileError(
            f"{ddir.path / 'utt2spks'}: file not found (the speakers of each source come "
            "from it)"
        )
    return ddir.utt2spks


def build_spk_list(train_dir: PathLike) -> List[str]:
    """The sorted speaker ids of a training dir's ``utt2spks``.

    Raises:
        DataFileError: the dir fails the data-dir reader, or has no ``utt2spks``.
    """
    ddir = load_data_dir(train_dir)
    return sorted({spk for spks in _utt2spks(ddir).values() for spk in spks})


def spk_ids_of(ddir: DataDir, index: Dict[str, int]) -> Dict[str, List[int]]:
    """``{utt: [class of source 1, ..., class of source K]}``, -1 for unknown speakers.

    Args:
        ddir: A data dir read by :func:`load_data_dir`.
        index: ``{speaker id: class}``.

    Raises:
        DataFileError: no ``utt2spks``, an utterance missing from it, or an
            utterance-level ``espnet_rttm`` whose speaker columns (first appearance,
            as ESPnet's ``RttmReader`` numbers them) are not in ``utt2spks`` order.
    """
    utt2spks = _utt2spks(ddir)
    out = {}
    for utt in ddir.utts:
        if utt not in utt2spks:
            raise DataFileError(f"{ddir.path / 'utt2spks'}: no line for {utt!r}")
        spks = utt2spks[utt]
        if ddir.espnet_rttm is not None and ddir.espnet_rttm_level == "utt":
            entry = ddir.espnet_rttm.get(utt)
            if entry is not None and list(entry.speakers) != list(spks):
                raise DataFileError(
                    f"{ddir.where('espnet_rttm', utt)}: the speakers of {utt!r} appear in "
                    f"the order {entry.speakers}, but {ddir.where('utt2spks', utt)} has "
                    f"{spks}; ESPnet numbers the spk_labels columns by first appearance, "
                    "so they would not match spk_ids (write the dir with "
                    "espnet_echo.bin.format_data, which orders the turns by source)"
                )
        out[utt] = [index.get(spk, -1) for spk in spks]
    return out


def _write_if_changed(path: Path, text: str) -> bool:
    """Atomically write ``text`` unless ``path`` already holds it; True if written."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    with atomic_open(path) as f:
        f.write(text)
    return True


def make_spk_ids(
    train_dir: PathLike, spk_list: PathLike, data_dirs: Sequence[PathLike]
) -> List[str]:
    """Write the speaker list of ``train_dir`` and ``<dir>/spk_ids`` of every data dir.

    Files are written atomically and only when their content changes (a re-run with
    the same inputs writes nothing). Every dir is read and checked before anything is
    written.

    Args:
        train_dir: Training dump dir (its ``utt2spks`` defines the speaker list).
        spk_list: Output speaker-list file.
        data_dirs: Dirs to label (include ``train_dir``).

    Returns:
        The speaker list.

    Raises:
        DataFileError: a dir fails the reader, lacks ``utt2spks``, or has labels in
            another speaker order (see :func:`spk_ids_of`); nothing is written then.
    """
    speakers = build_spk_list(train_dir)
    if not speakers:
        raise DataFileError(f"{Path(train_dir) / 'utt2spks'}: no speaker ids")
    index = {spk: i for i, spk in enumerate(speakers)}
    tables = {}
    for d in data_dirs:
        ddir = load_data_dir(d)
        tables[ddir.path] = spk_ids_of(ddir, index)
    wrote = _write_if_changed(Path(spk_list), "".join(f"{s}\n" for s in speakers))
    logging.info(
        f"{spk_list}: {len(speakers)} training speakers"
        + ("" if wrote else " (unchanged)")
    )
    for path, table in tables.items():
        text = "".join(
            f"{utt} {' '.join(str(i) for i in ids)}\n" for utt, ids in table.items()
        )
        wrote = _write_if_changed(path / SPK_IDS, text)
        unknown = sum(i < 0 for ids in table.values() for i in ids)
        known = sum(i >= 0 for ids in table.values() for i in ids)
        logging.info(
            f"{path / SPK_IDS}: {len(table)} utterances, {known} sources of training "
            f"speakers, {unknown} of other speakers" + ("" if wrote else " (unchanged)")
        )
    return speakers

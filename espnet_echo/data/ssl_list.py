# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Unlabelled audio list for JEPA pretraining (recipe stage 5): mixtures + clean sources.

Reads a ``format_data`` dump dir (``wav.scp``, ``utt2num_samples`` and, when present,
``speech_ref.scp``) and writes ``<out_dir>/wav.scp`` and ``<out_dir>/speech_shape`` (the
shape file ESPnet's batch samplers read). Every mixture is listed under its own key and
every reference source ``n`` under ``<utt>-src<n>``; the sources have the mixture's length
(``docs/CONTRACT.md``), so their shape is the mixture's. No label is read.

Entries are passed through as ESPnet's ``sound`` reader will read them in training: the
whole rest of a ``wav.scp`` line is one entry (paths with spaces, ``cmd |`` pipes, ark
offsets), and ``speech_ref.scp`` lines are split with :func:`espnet_echo.data.scp.split_entries`
(the rule of the data-dir reader). A dir with a Kaldi ``segments`` file is refused: ESPnet's
``sound`` reader cannot cut recordings, so such a dir must go through ``format_data`` first.
"""

import logging
from pathlib import Path
from typing import Dict

from espnet_echo.data.scp import split_entries
from espnet_echo.utils.fileio import (
    DataFileError,
    file_digest,
    read_kaldi_map,
    stamp_is_current,
    staged_dir,
    write_kaldi_map,
    write_stamp,
)

STAMP = ".ssl_list.json"


def build_ssl_list(data_dir: Path, with_sources: bool = True) -> Dict[str, Dict[str, str]]:
    """Keys, paths and sample counts of the pretraining list.

    Args:
        data_dir: ``format_data`` dump dir.
        with_sources: Also list the clean sources of ``speech_ref.scp``.

    Returns:
        ``{"wav.scp": {key: path}, "speech_shape": {key: num_samples}}``.

    Raises:
        DataFileError: a missing or malformed file, or keys that disagree; the message
            names the file.
    """
    wav_scp = data_dir / "wav.scp"
    lengths_file = data_dir / "utt2num_samples"
    if (data_dir / "segments").is_file():
        raise DataFileError(
            f"{data_dir / 'segments'}: a Kaldi segments file cuts the recordings of wav.scp, "
            f"which ESPnet's sound reader cannot do; run format_data on {data_dir} first and "
            f"build the list from its dump"
        )
    wavs = read_kaldi_map(wav_scp)
    lengths = read_kaldi_map(lengths_file, num_fields=1)
    missing = sorted(set(wavs) - set(lengths))
    if missing:
        raise DataFileError(f"{lengths_file}: no sample count for {missing[0]!r}")
    for utt, n in lengths.items():
        if not n.isdigit() or int(n) == 0:
            raise DataFileError(f"{lengths_file}: {utt!r} has sample count {n!r}")
    scp = dict(wavs)
    shape = {utt: lengths[utt] for utt in wavs}
    ref_file = data_dir / "speech_ref.scp"
    if with_sources and ref_file.is_file():
        for lineno, (utt, value) in enumerate(read_kaldi_map(ref_file).items(), 1):
            if utt not in wavs:
                raise DataFileError(f"{ref_file}: {utt!r} is not in {wav_scp}")
            for n, path in enumerate(split_entries(value, f"{ref_file}:{lineno}"), 1):
                scp[f"{utt}-src{n}"] = path
                shape[f"{utt}-src{n}"] = lengths[utt]
    logging.info(
        f"{data_dir}: {len(scp)} recordings ({len(wavs)} mixtures, "
        f"{len(scp) - len(wavs)} sources)"
    )
    return {"wav.scp": scp, "speech_shape": shape}


def write_ssl_list(data_dir: Path, out_dir: Path, with_sources: bool = True) -> bool:
    """Write ``wav.scp`` and ``speech_shape`` of :func:`build_ssl_list` into ``out_dir``.

    The output dir is replaced atomically, and nothing is done when its stamp says the
    inputs (checksums of ``wav.scp``, ``utt2num_samples``, ``speech_ref.scp``) and
    ``with_sources`` have not changed.

    Args:
        data_dir: ``format_data`` dump dir.
        out_dir: Output dir.
        with_sources: Also list the clean sources of ``speech_ref.scp``.

    Returns:
        True if written, False if ``out_dir`` was up to date.

    Raises:
        DataFileError: see :func:`build_ssl_list`; ``out_dir`` is then left as it was.
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    inputs = [
        data_dir / name
        for name in ("wav.scp", "utt2num_samples", "speech_ref.scp")
        if (data_dir / name).is_file()
    ]
    stamp = {
        "inputs": {str(f): file_digest(f) for f in inputs},
        "with_sources": with_sources,
    }
    if stamp_is_current(out_dir, stamp, STAMP):
        logging.info(f"{out_dir} is up to date; skipped")
        return False
    lists = build_ssl_list(data_dir, with_sources)
    with staged_dir(out_dir, STAMP) as tmp:
        for name, mapping in lists.items():
            write_kaldi_map(tmp / name, mapping)
        write_stamp(tmp, stamp, STAMP)
    logging.info(f"wrote {out_dir}")
    return True

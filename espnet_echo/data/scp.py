# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Audio entries of Kaldi/ESPnet scp files (``wav.scp``, ``spk{n}.scp``, ``noise.scp``).

An entry is the rest of the line after the key (so a path may hold spaces, as ESPnet's
:func:`espnet2.fileio.read_text.read_2columns_text` reads it). The forms Kaldi and ESPnet
write are read the way ESPnet reads them:

========================  ==============================================================
form                      read with
========================  ==============================================================
``/path/a.wav``           :func:`espnet_echo.utils.audio.read_audio` (soundfile, with the
                          truncated-WAV check); relative paths are relative to the
                          working dir (Kaldi convention)
``/path/with space.wav``  the same: the whole rest of the line is the path
``cmd ... |``             the command's standard output, through ESPnet's Kaldi I/O
                          (:func:`omniio.kaldi.load_mat`, the ``kaldi_io`` of
                          :mod:`espnet2.train.dataset`); run by the shell in the working
                          dir; a non-zero exit status is an error
``/path/x.ark:1234``      the object at that byte offset of a Kaldi ark (WaveHolder RIFF,
                          or ESPnet's ``AUDIO``-framed flac/wav), same reader
``/path/a.wav.gz``        gunzipped, same reader
========================  ==============================================================

Refused with a message naming ``file:line``: an rspecifier (``ark:...``, ``scp:...``: a
table, not an entry), ``-`` (standard input), ``| cmd`` (an output pipe), an empty entry,
and a Kaldi ark object that is not audio (a feature matrix). The decoded audio gets the
checks of :func:`espnet_echo.utils.audio.check_signal` (mono, non-empty, finite).
"""

import os
import re
from typing import List, Optional, Tuple

import numpy as np

from espnet_echo.utils.audio import AudioError, check_signal, conform_audio, read_audio
from espnet_echo.utils.fileio import DataFileError

_ARK_OFFSET = re.compile(r"^(.*):(\d+)$")
_RSPECIFIER = re.compile(r"^(ark|scp)(,[a-z,]*)?:")

PATH, PIPE, ARK, GZIP = "path", "pipe", "ark", "gzip"


def entry_kind(value: str, where: str) -> str:
    """Classify an scp entry, refusing the forms that are not audio entries.

    Args:
        value: The entry (rest of the line after the key).
        where: ``file:line`` for the message.

    Returns:
        ``"path"``, ``"pipe"``, ``"ark"`` (``file.ark:offset``) or ``"gzip"``.

    Raises:
        DataFileError: an rspecifier, ``-``, an output pipe or an empty entry.
    """
    value = value.strip()
    if not value:
        raise DataFileError(f"{where}: empty audio entry")
    if _RSPECIFIER.match(value):
        raise DataFileError(
            f"{where}: {value!r} is a Kaldi rspecifier (a whole table), not an scp entry; "
            "list one '<key> <file.ark>:<offset>' (or '<key> <path>') per line, as "
            "ESPnet's scripts/audio/format_wav_scp.sh writes them"
        )
    if value == "-":
        raise DataFileError(f"{where}: '-' (standard input) is not supported in an scp")
    if value.startswith("|"):
        raise DataFileError(
            f"{where}: {value!r} is an output pipe ('| cmd'); an input pipe is 'cmd |'"
        )
    if value.endswith("|"):
        return PIPE
    if _ARK_OFFSET.match(value):
        return ARK
    if value.endswith(".gz"):
        return GZIP
    return PATH


def read_entry(value: str, where: str) -> Tuple[np.ndarray, int]:
    """Decode the audio of one scp entry at its own rate.

    Args:
        value: The entry (see the module docstring for the forms).
        where: ``file:line`` of the entry, prefixed to every message.

    Returns:
        ``(wav, rate)``: float32 ``(T,)`` and the sample rate.

    Raises:
        DataFileError: a refused form (:func:`entry_kind`).
        AudioError: the audio cannot be read, or is multi-channel, empty or NaN.
    """
    kind = entry_kind(value, where)
    value = value.strip()
    if kind == PATH:
        try:
            return read_audio(value)
        except AudioError as e:
            hint = ""
            if any(c.isspace() for c in value) and not os.path.exists(value):
                hint = (
                    " (the whole rest of the line is one path, as Kaldi and ESPnet read "
                    "an scp)"
                )
            raise AudioError(f"{where}: {e}{hint}") from e
    from omniio import kaldi as kaldi_io  # ESPnet's Kaldi I/O (espnet2.train.dataset)

    try:
        obj = kaldi_io.load_mat(value)
    except FileNotFoundError as e:
        raise AudioError(f"{where}: {value}: audio file not found ({e.filename})") from e
    except Exception as e:  # ReadError, IOError of a failed pipe, soundfile errors
        if kind == PIPE:
            raise AudioError(
                f"{where}: the command {value[:-1].strip()!r} failed or wrote no audio to "
                f"its standard output ({type(e).__name__}: {e})"
            ) from e
        raise AudioError(f"{where}: cannot read {value!r} ({type(e).__name__}: {e})") from e
    if not (isinstance(obj, tuple) and len(obj) == 2):
        raise AudioError(
            f"{where}: {value!r} holds a Kaldi matrix of shape "
            f"{getattr(obj, 'shape', '?')}, not audio (feats.scp entries are not "
            "waveforms)"
        )
    rate, array = obj
    return check_signal(array, f"{where}: {value}"), int(rate)


def load_entry(
    value: str,
    where: str,
    fs: int,
    resample: bool = False,
    allow_silent: bool = True,
) -> np.ndarray:
    """Decode one scp entry (:func:`read_entry`) and bring it to rate ``fs``.

    Args:
        value: The entry.
        where: ``file:line`` of the entry, prefixed to every message.
        fs: Required rate.
        resample: Resample another rate to ``fs`` (with a warning) instead of failing.
        allow_silent: If False, an all-zero signal is an error.

    Returns:
        float32 ``(T,)`` at ``fs``.

    Raises:
        DataFileError: a refused form.
        AudioError: bad audio, a wrong rate (without ``resample``) or refused silence;
            the message names ``file:line`` and the entry.
    """
    wav, rate = read_entry(value, where)
    return conform_audio(wav, rate, f"{where}: {value.strip()}", fs, resample, allow_silent)


def split_entries(value: str, where: str) -> List[str]:
    """The audio entries of one scp line that may list several (``speech_ref.scp``).

    One entry when the rest of the line is one: a ``cmd |`` pipe, or a path that exists
    (so a path with spaces stays whole, as Kaldi/ESPnet read an scp). Otherwise the line is
    split on whitespace, as ESPnet's ``variable_columns_sound`` splits ``speech_ref.scp``;
    a column cannot then be a pipe.

    Args:
        value: The rest of the line after the key.
        where: ``file:line`` for messages.

    Returns:
        The entries, in line order.

    Raises:
        DataFileError: a refused form (:func:`entry_kind`), or a pipe among several
            columns.
    """
    value = value.strip()
    kind = entry_kind(value, where)
    if kind == PIPE or (kind == PATH and os.path.exists(value)) or len(value.split()) == 1:
        return [value]
    entries = value.split()
    for entry in entries:
        if entry_kind(entry, where) == PIPE:
            raise DataFileError(
                f"{where}: a pipe cannot be one of several columns ({value!r}); list it "
                "alone on its line"
            )
    return entries


def entry_stamp(value: str) -> Optional[str]:
    """A string that changes when the audio of an entry changes, or None if unknowable.

    Paths, arks and gzip files: absolute path, size and mtime. Pipes: None (their input
    cannot be known, so a stage that caches on it must re-run).
    """
    value = value.strip()
    kind = entry_kind(value, "scp")
    if kind == PIPE:
        return None
    path = _ARK_OFFSET.match(value).group(1) if kind == ARK else value
    try:
        st = os.stat(path)
    except OSError:
        return f"{os.path.abspath(path)} missing"
    return f"{value if kind == ARK else os.path.abspath(path)} {st.st_size} {st.st_mtime_ns}"


def is_plain_path(value: str) -> bool:
    """True if the entry is a plain path without whitespace (safe to list in any scp)."""
    value = value.strip()
    return (
        entry_kind(value, "scp") == PATH
        and not any(c.isspace() for c in value)
    )

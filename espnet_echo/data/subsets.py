# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Derived data dirs: mixtures of given speaker counts, clean sources as utterances.

Two ways of making the ASR path learn before it sees overlap (issue 12, "ASR head
initialised from single-speaker training on the clean sources"; UME, Shi et al. 2025,
reports that 3-speaker training diverges without it), and a way to score one speaker
count alone:

* :func:`select_num_spk` keeps the mixtures with K in a given set (a K=1-first
  curriculum, or scoring single-speaker mixtures alone). The subset is the source dir
  restricted to the kept utterances, file by file, so it can be trained on and scored
  like the source (``python -m espnet_echo.bin.score --ref_dir <subset>``):

  - the files keyed by utterance in the first field (the audio scps ``wav.scp``,
    ``spk{n}.scp``, ``speech_ref.scp``, ``noise.scp``; ``text_spk{n}``, ``text``,
    ``utt2*``, ``reco2*`` (a recording is an utterance without ``segments``),
    ``spk_ids`` and any other file whose records are all keyed by utterance ids) keep
    the lines of the kept utterances, verbatim;
  - ``rttm`` (``<file>`` = field 2) and ``uem`` (field 1), mapped to recordings through
    ``reco2file_and_channel`` when the source has one, and ``espnet_rttm`` (``SPEAKER``
    and ``END`` lines, ``<utt>`` = field 2) keep the lines of the kept utterances
    (``;;`` comments are kept);
  - files whose records are all keyed by speakers of ``utt2spk``/``spk2utt``
    (``spk2gender``, a per-speaker ``cmvn.scp``) keep the kept utterances' speakers;
    ``spk2utt`` is rebuilt from the kept ``utt2spk`` (written whenever the source has
    ``utt2spk``);
  - files that hold no utterance or speaker id (``frame_shift``, ``glm``) are copied;
  - not carried (logged and listed in ``subset.json``): hidden files (the source's
    stamps, e.g. ``.format_data.json``), subdirs (e.g. a dump's ``wav/``: entries that
    point into it are kept as they are), files that are not UTF-8 text and files that
    mix utterance ids with other keys;
  - a per-utterance file left without a line is not written (``spk2.scp`` of a K=1
    subset of a contract dir).

  Dirs with ``segments`` are refused. The counts must lie in ``1..MAX_SPK`` (the reader
  refuses K=0 utterances: ``utt2num_spk`` >= 1).
* :func:`sources_as_utterances` turns every clean source of every mixture into a
  one-speaker utterance ``<mix>_s<n>`` with its own transcript, which gives the
  single-speaker CTC ~2x as many utterances as the mixtures (1-3 sources each). It
  writes ``wav.scp``, ``text_spk1``, ``utt2num_spk``, ``utt2num_samples`` and
  ``utt2spks`` when the speakers are known.

Both read through :func:`espnet_echo.data.datadir.load_data_dir` (the one reader, so the
same dirs are accepted and refused as everywhere else), check that the result loads with
it again before it is moved into place, and always write a complete ``utt2num_samples``
(it doubles as ESPnet's ``speech_shape`` file): from the source's ``utt2num_samples``
(or ``END`` line of ``espnet_rttm``), else from the audio header (``soundfile.info``) of
a plain-path entry; an entry that cannot be inspected without decoding it (``cmd |``,
``file.ark:offset``, ``*.gz``) is an error naming its ``file:line``. Audio is referenced,
not copied. Each dir gets ``subset.json`` (what it was made from) and is written
through :func:`espnet_echo.utils.fileio.staged_dir` (complete or absent; an existing dir
is only replaced when it holds ``subset.json``).
"""

import codecs
import json
import logging
import shutil
from pathlib import Path
from typing import Callable, Collection, Dict, List, Optional, Set, Tuple, Union

import soundfile

from espnet_echo.data.contract import MAX_SPK
from espnet_echo.data.datadir import SPK_SCP, TEXT_SPK, DataDir, load_data_dir
from espnet_echo.data.scp import PATH, entry_kind
from espnet_echo.utils.audio import wav_truncation
from espnet_echo.utils.fileio import DataFileError, staged_dir, write_kaldi_map

PathLike = Union[str, Path]

#: The stamp of a derived dir (its source and selection).
STAMP = "subset.json"

#: Files of the reader keyed by utterance (or recording = utterance) in field 1.
_BY_UTT = frozenset({
    "wav.scp", "noise.scp", "speech_ref.scp", "text", "utt2spk", "utt2spks", "utt2num_spk",
    "utt2dur", "reco2num_spk", "reco2dur", "reco2file_and_channel",
})
#: Written by this module rather than filtered.
_REBUILT = frozenset({STAMP, "spk2utt", "utt2num_samples"})


def check_num_spk(num_spk: Collection[int]) -> Set[int]:
    """The speaker counts to keep, each in ``1..MAX_SPK``.

    Raises:
        ValueError: no count, or an invalid one (K=0 is not valid data: the data-dir
            reader requires ``utt2num_spk`` >= 1).
    """
    counts = list(num_spk)
    if not counts:
        raise ValueError(f"invalid speaker count: none given (K in 1..{MAX_SPK})")
    for k in counts:
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_SPK:
            raise ValueError(
                f"invalid speaker count {k!r}: K must be an integer in 1..{MAX_SPK} "
                "(MAX_SPK; the data-dir reader has no K=0 utterance: utt2num_spk >= 1)"
            )
    return set(counts)


def header_length(entry: str, where: str) -> int:
    """Number of samples of a plain-path audio entry, from its header.

    Args:
        entry: An scp entry.
        where: Its ``file:line``, for messages.

    Raises:
        DataFileError: a ``cmd |``, ``file.ark:offset`` or ``*.gz`` entry (its length
            cannot be known without decoding it), a missing, truncated, unreadable,
            multi-channel or empty file; names ``where``.
    """
    kind = entry_kind(entry, where)
    if kind != PATH:
        raise DataFileError(
            f"{where}: {entry.strip()!r} is a {kind} entry whose length cannot be read "
            "from a header; give its length in utt2num_samples"
        )
    path = Path(entry.strip())
    if not path.is_file():
        raise DataFileError(f"{where}: audio file not found: {path}")
    problem = wav_truncation(path)
    if problem:
        raise DataFileError(f"{where}: {path}: {problem}")
    try:
        info = soundfile.info(str(path))
    except Exception as e:  # LibsndfileError / RuntimeError
        raise DataFileError(f"{where}: {path}: cannot read the audio header ({e})") from e
    if info.channels != 1:
        raise DataFileError(f"{where}: {path}: {info.channels} channels, need mono")
    if info.frames <= 0:
        raise DataFileError(f"{where}: {path}: no samples")
    return int(info.frames)


def _filter_lines(src: Path, dst: Path, key_of: Callable[[List[str]], str],
                  keep: Set[str]) -> int:
    """Copy the lines of ``src`` whose key is in ``keep`` (and ``;;`` comments).

    Blank lines are dropped; ``dst`` is not written when no record is kept.

    Returns:
        The number of records written.
    """
    lines, records = [], 0
    with open(src, encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if not fields:
                continue
            if fields[0].startswith(";;") or key_of(fields) in keep:
                lines.append(line if line.endswith("\n") else line + "\n")
                records += not fields[0].startswith(";;")
    if records:
        with open(dst, "w", encoding="utf-8") as f:
            f.writelines(lines)
    return records


def _first_fields(path: Path) -> Optional[List[str]]:
    """Field 1 of each record (blank lines and ``;;`` skipped), None if not UTF-8 text.

    A file whose first 8 KiB hold a NUL byte or invalid UTF-8 (audio, say) is not read
    further.
    """
    with open(path, "rb") as f:
        head = f.read(8192)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    if b"\0" in head:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            rows = (line.split() for line in f)
            return [x[0] for x in rows if x and not x[0].startswith(";;")]
    except UnicodeDecodeError:
        return None


def _speakers(ddir: DataDir, utts: Optional[Set[str]] = None) -> Set[str]:
    """Speakers of ``utt2spk``/``spk2utt`` (of ``utts`` only, if given)."""
    out = {s for u, s in (ddir.utt2spk or {}).items() if utts is None or u in utts}
    for spk, members in (ddir.spk2utt or {}).items():
        if utts is None or utts.intersection(members):
            out.add(spk)
    return out


def _carry(ddir: DataDir, kept: Set[str],
           tmp: Path) -> Tuple[List[Tuple[Path, str, bool]], int]:
    """Write the files of ``ddir`` restricted to ``kept`` into ``tmp`` (module docstring).

    Returns:
        ``(path, why, is_data)`` of each text file (``is_data``), hidden file and subdir
        of ``ddir`` not carried, and the number of binary files (audio, say) not carried.
    """
    skipped, binary = [], 0
    r2fc = {v: rec for rec, v in (ddir.reco2file_and_channel or {}).items()}

    def label_key(col: int) -> Callable[[List[str]], str]:
        return lambda f: r2fc.get(tuple(f[col:col + 2]), f[col])

    speakers, kept_speakers = _speakers(ddir), _speakers(ddir, kept)
    for p in sorted(ddir.path.iterdir()):
        name = p.name
        if name in _REBUILT:
            continue
        if name.startswith(".") or not p.is_file():
            what = "a subdir; audio entries pointing into it are kept as they are"
            what = what if p.is_dir() else "a hidden file, such as the stamp of the source"
            skipped.append((p, what, False))
            continue
        if name in ("rttm", "uem"):
            _filter_lines(p, tmp / name, label_key(1 if name == "rttm" else 0), kept)
        elif name == "espnet_rttm":
            _filter_lines(p, tmp / name, lambda f: f[1], kept)
        elif name in _BY_UTT or SPK_SCP.match(name) or TEXT_SPK.match(name):
            _filter_lines(p, tmp / name, lambda f: f[0], kept)
        else:
            keys = _first_fields(p)
            if keys is None:
                binary += 1
            elif keys and all(k in ddir.wav for k in keys):
                _filter_lines(p, tmp / name, lambda f: f[0], kept)
            elif keys and all(k in speakers for k in keys):
                _filter_lines(p, tmp / name, lambda f: f[0], kept_speakers)
            elif not any(k in ddir.wav or k in speakers for k in keys):
                shutil.copyfile(p, tmp / name)  # no per-utterance data
            else:
                skipped.append((p, "keyed partly by utterance or speaker ids and partly by "
                                "other keys: cannot restrict it", True))
    return skipped, binary


def _spk2utt(ddir: DataDir, kept: Set[str]) -> Dict[str, str]:
    """``spk2utt`` of the kept utterances (from ``utt2spk``, else the source's)."""
    out: Dict[str, List[str]] = {}
    if ddir.utt2spk is not None:
        for utt in sorted(kept):
            if utt in ddir.utt2spk:
                out.setdefault(ddir.utt2spk[utt], []).append(utt)
    elif ddir.spk2utt is not None:
        for spk, members in ddir.spk2utt.items():
            if kept.intersection(members):
                out[spk] = [u for u in members if u in kept]
    return {spk: " ".join(members) for spk, members in out.items()}


def _mixture_lengths(ddir: DataDir, utts: List[str]) -> Tuple[Dict[str, int], int]:
    """``{utt: samples}`` (``utt2num_samples``, ``espnet_rttm`` END, audio header).

    Returns:
        The lengths and how many were read from audio headers.
    """
    given = ddir.utt2num_samples or {}
    ends = ddir.espnet_rttm if ddir.espnet_rttm_level == "utt" else None
    out, from_audio = {}, 0
    for utt in utts:
        if utt in given:
            out[utt] = given[utt]
        elif ends is not None and utt in ends:
            out[utt] = ends[utt].num_samples
        else:
            out[utt] = header_length(*ddir.audio_entry(utt))
            from_audio += 1
    return out, from_audio


def _stage_check(tmp: Path, dst: PathLike) -> None:
    """The written dir must load with the one reader (round trip)."""
    try:
        load_data_dir(tmp)
    except DataFileError as e:
        raise DataFileError(
            f"{dst}: the derived dir does not load ({e}); nothing written"
        ) from e


def _write(dst: PathLike, rows: List[Dict], stamp: Dict) -> Path:
    """Write rows (``utt``, ``wav``, ``texts``, ``num_spk``, ``num_samples``, ``spks``)."""
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
        write_kaldi_map(tmp / "utt2num_samples", {r["utt"]: r["num_samples"] for r in rows})
        if all(r["spks"] for r in rows):
            write_kaldi_map(tmp / "utt2spks", {r["utt"]: " ".join(r["spks"]) for r in rows})
        _stage_check(tmp, dst)
    return Path(dst)


def select_num_spk(src: PathLike, dst: PathLike, num_spk: Collection[int]) -> int:
    """Write the utterances of ``src`` whose speaker count K is in ``num_spk`` to ``dst``.

    Every file of ``src`` is restricted to those utterances (module docstring), so
    ``dst`` can be scored and trained on like ``src``; ``utt2num_samples`` is complete.

    Args:
        src: A data dir or a ``format_data`` dump (audio is referenced, not copied).
        dst: Output dir.
        num_spk: Speaker counts to keep, e.g. ``{1}``, each in ``1..MAX_SPK``.

    Returns:
        The number of utterances written.

    Raises:
        ValueError: an invalid speaker count (before ``src`` is read).
        DataFileError: a bad ``src`` (named ``file:line``), a dir with ``segments``, an
            utterance whose K is unknown, a length that is neither given nor readable
            from an audio header (names the scp line), or no utterance with such a K
            (nothing is written then).
    """
    keep = check_num_spk(num_spk)
    ddir = load_data_dir(src)
    if ddir.segments is not None:
        raise DataFileError(f"{ddir.path / 'segments'}: dirs with segments are not supported")
    kept = []
    for utt in ddir.utts:
        if utt not in ddir.num_spk:
            raise DataFileError(f"{ddir.where('wav.scp', utt)}: the speaker count of {utt!r} "
                                "is unknown (no utt2num_spk, spk*.scp or text_spk*)")
        if ddir.num_spk[utt] in keep:
            kept.append(utt)
    if not kept:
        raise DataFileError(f"{dst}: no utterance selected; nothing written")
    lengths, from_audio = _mixture_lengths(ddir, kept)
    with staged_dir(dst, STAMP) as tmp:
        skipped, binary = _carry(ddir, set(kept), tmp)
        write_kaldi_map(tmp / "utt2num_samples", lengths)
        spk2utt = _spk2utt(ddir, set(kept))
        if spk2utt:
            write_kaldi_map(tmp / "spk2utt", spk2utt)
        stamp = {
            "source": str(Path(src).resolve()), "num_spk": sorted(keep), "num_utts": len(kept),
            "num_samples_from_audio_headers": from_audio,
            "not_carried": [p.name for p, _, _ in skipped], "binary_files_not_carried": binary,
        }
        (tmp / STAMP).write_text(json.dumps(stamp, indent=1) + "\n")
        _stage_check(tmp, dst)
    for path, why, is_data in skipped:
        (logging.warning if is_data else logging.info)(f"{path}: not carried ({why})")
    if binary:
        logging.info(f"{ddir.path}: {binary} binary files (audio, say) not carried: the "
                     "audio entries are kept as they are")
    if from_audio:
        logging.info(f"{dst}/utt2num_samples: {from_audio} lengths read from audio headers")
    return len(kept)


def sources_as_utterances(src: PathLike, dst: PathLike,
                          num_samples: Optional[Dict[str, int]] = None) -> int:
    """Write each clean source of each mixture of ``src`` as a one-speaker utterance.

    Utterance ``<mix>_s<n>`` is source n of mixture ``<mix>`` (its ``spk{n}.scp`` entry or
    the n-th path of a dump's ``speech_ref.scp``) with transcript ``text_spk{n}``. Its
    ``utt2num_samples`` is the mixture's (the contract's sources are as long as their
    mixture, silence around the speech) when ``num_samples`` or the source's
    ``utt2num_samples`` gives it, else read from the source's audio header.

    Args:
        src: A data dir or ``format_data`` dump with sources and transcripts.
        dst: Output dir.
        num_samples: Lengths to use instead of ``src``'s ``utt2num_samples``.

    Returns:
        The number of utterances written.

    Raises:
        DataFileError: a bad ``src`` (named ``file:line``), a mixture without sources or
            with fewer transcripts than sources (named), a length that is neither given
            nor readable from an audio header (names the scp line).
    """
    ddir = load_data_dir(src)
    lengths = num_samples if num_samples is not None else (ddir.utt2num_samples or {})
    if ddir.segments is not None:
        raise DataFileError(f"{ddir.path / 'segments'}: dirs with segments are not supported")
    rows, from_audio = [], 0
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
            length = lengths.get(utt)
            if length is None:
                length = header_length(*ddir.audio_entry(utt, n))
                from_audio += 1
            rows.append({
                "utt": f"{utt}_s{n}", "wav": entry, "texts": [text], "num_spk": 1,
                "num_samples": length, "spks": [spks[n - 1]] if len(spks) >= n else [],
            })
    _write(dst, rows, {"source": str(Path(src).resolve()), "sources_as_utterances": True,
                       "num_samples_from_audio_headers": from_audio})
    if from_audio:
        logging.info(f"{dst}/utt2num_samples: {from_audio} lengths read from audio headers")
    return len(rows)

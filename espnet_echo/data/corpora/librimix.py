# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""LibriMix (Libri2Mix / Libri3Mix) in the data-dir contract (``docs/CONTRACT.md``).

Input: the tree written by LibriMix's own generation script
(``generate_librimix.sh`` -> ``scripts/create_librimix_from_metadata.py``,
https://github.com/JorisCos/LibriMix), plus LibriSpeech for the transcripts::

    <librimix_root>/Libri{2,3}Mix/wav{8k,16k}/{min,max}/
        metadata/mixture_<split>_mix_{clean,both,single}.csv
        <split>/{s1,s2[,s3],noise,mix_clean,mix_both,mix_single}/<mixture_ID>.wav
    <librispeech_root>[/LibriSpeech]/<subset>/<spk>/<chapter>/<spk>-<chapter>.trans.txt

with ``<split>`` one of ``train-360``, ``train-100``, ``dev``, ``test`` (LibriSpeech
subsets ``train-clean-360``, ``train-clean-100``, ``dev-clean``, ``test-clean``). The
``mixture_*.csv`` columns are ``mixture_ID, [original_mixture_ID,] mixture_path,
source_1_path .. source_<n>_path, [noise_path,] length`` (``noise_path`` for
``mix_both``; ``original_mixture_ID`` only in newer LibriMix versions). A
``mixture_ID`` is ``<utt_1>_<utt_2>[_<utt_3>]`` of LibriSpeech utterance ids
``<spk>-<chapter>-<utt>``, so the speakers and the transcripts come from it.

The paths in the CSV are the absolute paths at generation time; trees are often moved
afterwards, so every file is looked up at its place in the tree instead:
``<split>/<subdir>/<mixture_ID>.wav``.

Output (:func:`prepare_librimix`): ``<out_dir>/{train,dev,test}`` (``train`` from the
chosen training split), each with ``wav.scp`` (the ``mix_both`` or ``mix_clean``
mixture), ``spk{n}.scp`` (``s{n}``: LibriMix writes every source at the mixture's length,
cut to the shortest source in ``min`` mode and zero-padded to the longest in ``max``
mode; checked, not assumed), ``noise.scp`` (``mix_both`` only: a clean mixture has no
noise), ``text_spk{n}`` (LibriSpeech transcripts), ``utt2spks`` (LibriSpeech speaker
ids in source order), ``utt2num_spk``, ``utt2num_samples``, ``utt2spk``/``spk2utt``
(mixture level), ``rttm`` and ``espnet_rttm``.

**Speaker turns from source activity.** LibriMix has no time labels, so each source's
turns are its active regions, by the rule the simulator uses for its own labels
(:func:`espnet_echo.simulate.mixture.activity_segments`): 10 ms frames from the start of
the mixture, a frame is active when its mean energy is non-zero and within
``ACTIVITY_THRESHOLD_DB`` (-40 dB) of the source's loudest frame, and active frames
separated by fewer than ``ACTIVITY_MIN_SILENCE_S`` (0.2 s) of inactive frames are joined
into one turn. (ESPnet's ``egs2/librimix/diar1`` instead reads RTTMs of the LibriSpeech
utterances distributed with its LibriMix fork and cuts them to the mixture length in
``min`` mode; the activity rule needs no extra download and gives turns exact to the
frame of the audio actually in the mixture.) A source without any active frame is an
error (its speaker could not be labelled).

Every problem found is raised before anything is written (layout, CSV, transcripts,
then every audio file: existence, rate, channels, length), as one
:class:`~espnet_echo.utils.fileio.DataFileError` or
:class:`~espnet_echo.utils.audio.AudioError` naming the file and what was expected
there. Each split is written into a temporary dir and renamed into place
(:func:`espnet_echo.utils.fileio.staged_dir`); a split whose stamp (options, roots and
the digest of its CSV) is unchanged is left as it is.
"""

import csv
import logging
import multiprocessing
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import soundfile

from espnet_echo.data.rttm import format_espnet_rttm_lines, format_rttm_line
from espnet_echo.simulate.mixture import activity_segments
from espnet_echo.utils.audio import AudioError, read_audio
from espnet_echo.utils.fileio import (
    DataFileError,
    file_digest,
    stamp_is_current,
    staged_dir,
    write_kaldi_map,
    write_stamp,
)

PathLike = Union[str, Path]

__all__ = [
    "FS_CHOICES", "MODES", "MIX_TYPES", "TRAIN_SETS", "LIBRISPEECH_SUBSETS",
    "STAMP_NAME", "LibriMixOptions", "Mixture", "corpus_dir", "read_mixture_csv",
    "find_librispeech_subset", "read_transcripts", "prepare_librimix", "write_fake_librimix",
]

#: ``--fs`` choices -> sample rate (LibriMix's ``wav8k``/``wav16k`` dirs).
FS_CHOICES = {"8k": 8000, "16k": 16000}
#: LibriMix length modes: ``min`` cuts to the shortest source, ``max`` pads to the longest.
MODES = ("min", "max")
#: ``--mix`` choices -> LibriMix mixture subdir.
MIX_TYPES = {"both": "mix_both", "clean": "mix_clean"}
#: Training splits of LibriMix (the papers train on train-360; train-100 is the small one).
TRAIN_SETS = ("train-360", "train-100")
#: LibriMix split -> LibriSpeech subset its utterances come from.
LIBRISPEECH_SUBSETS = {
    "train-360": "train-clean-360",
    "train-100": "train-clean-100",
    "dev": "dev-clean",
    "test": "test-clean",
}
#: Stamp written into every prepared split (also marks the dir as this tool's output).
STAMP_NAME = ".prepare_librimix.json"
#: Activity rule of the speaker turns (module docstring); the simulator's defaults.
ACTIVITY_THRESHOLD_DB = -40.0
ACTIVITY_FRAME_MS = 10.0
ACTIVITY_MIN_SILENCE_S = 0.2

_UTT_ID = re.compile(r"^(\d+)-(\d+)-(\d+)$")
_VERSION = 1


@dataclass(frozen=True)
class LibriMixOptions:
    """Which LibriMix variant to prepare.

    Attributes:
        num_spk: 2 (Libri2Mix) or 3 (Libri3Mix).
        fs: ``"8k"`` or ``"16k"``.
        mode: ``"min"`` or ``"max"``.
        mix: ``"both"`` (speech + WHAM! noise) or ``"clean"``.
        train_set: ``"train-360"`` or ``"train-100"``.
    """

    num_spk: int = 2
    fs: str = "8k"
    mode: str = "min"
    mix: str = "both"
    train_set: str = "train-360"

    def __post_init__(self) -> None:
        checks = (
            ("num_spk", self.num_spk, (2, 3)),
            ("fs", self.fs, tuple(FS_CHOICES)),
            ("mode", self.mode, MODES),
            ("mix", self.mix, tuple(MIX_TYPES)),
            ("train_set", self.train_set, TRAIN_SETS),
        )
        for name, value, choices in checks:
            if value not in choices:
                raise ValueError(f"--{name} must be one of {list(choices)}, got {value!r}")

    @property
    def rate(self) -> int:
        """Sample rate in Hz."""
        return FS_CHOICES[self.fs]

    @property
    def splits(self) -> List[Tuple[str, str]]:
        """``(output name, LibriMix split)`` pairs: train, dev, test as in the LibriMix paper."""
        return [("train", self.train_set), ("dev", "dev"), ("test", "test")]


@dataclass
class Mixture:
    """One row of a ``mixture_<split>_mix_*.csv`` file, with its files in the tree.

    Attributes:
        mix_id: ``mixture_ID`` (the utterance id of the data dir).
        where: ``csv:line`` of the row, for messages.
        length: ``length`` column (samples).
        mix_path: The mixture wav.
        source_paths: ``s1..sn`` wavs.
        noise_path: The ``noise`` wav (``mix_both``) or None.
        utt_ids: LibriSpeech utterance id of each source.
        speakers: LibriSpeech speaker id of each source.
    """

    mix_id: str
    where: str
    length: int
    mix_path: Path
    source_paths: List[Path]
    noise_path: Optional[Path]
    utt_ids: List[str]
    speakers: List[str]
    texts: List[str] = field(default_factory=list)


def corpus_dir(librimix_root: PathLike, opts: LibriMixOptions) -> Path:
    """``<librimix_root>/Libri<n>Mix/wav<fs>/<mode>``, checked level by level.

    Raises:
        DataFileError: the first missing level, naming the path looked for and what is
            found there instead.
    """
    root = Path(librimix_root)
    if not root.is_dir():
        raise DataFileError(
            f"--librimix_root {root}: directory not found (expected the directory "
            f"holding Libri{opts.num_spk}Mix/, as written by LibriMix's "
            f"generate_librimix.sh)"
        )
    levels = [f"Libri{opts.num_spk}Mix", f"wav{opts.fs}", opts.mode]
    path = root
    for level in levels:
        nxt = path / level
        if not nxt.is_dir():
            found = sorted(p.name for p in path.iterdir() if p.is_dir()) if path.is_dir() else []
            raise DataFileError(
                f"{nxt}: directory not found: Libri{opts.num_spk}Mix at {opts.fs} in "
                f"'{opts.mode}' mode was not generated there (found: "
                f"{', '.join(found) or 'nothing'}); generate it with LibriMix's "
                f"create_librimix_from_metadata.py --n_src {opts.num_spk} --freqs "
                f"{opts.fs} --modes {opts.mode}, or choose --num_spk/--fs/--mode to match"
            )
        path = nxt
    return path


def read_mixture_csv(
    csv_path: PathLike, split_dir: PathLike, opts: LibriMixOptions
) -> List[Mixture]:
    """Read a LibriMix ``mixture_<split>_<mix_type>.csv`` and place its files in the tree.

    Args:
        csv_path: The metadata CSV.
        split_dir: ``.../wav<fs>/<mode>/<split>``.
        opts: The variant (number of sources, mixture type).

    Returns:
        The mixtures in file order.

    Raises:
        DataFileError: missing or empty file, missing column, bad ``mixture_ID`` (not
            ``num_spk`` LibriSpeech ids, or a speaker twice), bad ``length``, duplicate
            id; names ``csv:line``.
    """
    csv_path, split_dir = Path(csv_path), Path(split_dir)
    if not csv_path.is_file():
        have = sorted(p.name for p in csv_path.parent.glob("mixture_*.csv"))
        raise DataFileError(
            f"{csv_path}: LibriMix metadata file not found (found in "
            f"{csv_path.parent}: {', '.join(have) or 'no mixture_*.csv'}); the split or the "
            f"mixture type was not generated"
        )
    mix_sub = MIX_TYPES[opts.mix]
    need = ["mixture_ID", "mixture_path"]
    need += [f"source_{i}_path" for i in range(1, opts.num_spk + 1)]
    if opts.mix == "both":
        need.append("noise_path")
    need.append("length")
    out: List[Mixture] = []
    seen: Dict[str, str] = {}
    with open(csv_path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise DataFileError(f"{csv_path}: empty file (expected a header {','.join(need)})")
        header = [h.strip() for h in header]
        missing = [c for c in need if c not in header]
        if missing:
            raise DataFileError(
                f"{csv_path}:1: missing column(s) {', '.join(missing)} (header: "
                f"{','.join(header)}); expected a LibriMix mixture_*.csv of "
                f"Libri{opts.num_spk}Mix {mix_sub}"
            )
        col = {name: header.index(name) for name in need}
        for lineno, row in enumerate(reader, 2):
            if not row or not any(cell.strip() for cell in row):
                continue
            where = f"{csv_path}:{lineno}"
            if len(row) != len(header):
                raise DataFileError(
                    f"{where}: {len(row)} fields, the header has {len(header)}"
                )
            mix_id = row[col["mixture_ID"]].strip()
            utt_ids = mix_id.split("_")
            if len(utt_ids) != opts.num_spk or not all(_UTT_ID.match(u) for u in utt_ids):
                raise DataFileError(
                    f"{where}: mixture_ID {mix_id!r} is not {opts.num_spk} LibriSpeech "
                    f"utterance ids <spk>-<chapter>-<utt> joined by '_'"
                )
            speakers = [u.split("-")[0] for u in utt_ids]
            if len(set(speakers)) != len(speakers):
                raise DataFileError(f"{where}: mixture {mix_id!r} has a speaker twice")
            if mix_id in seen:
                raise DataFileError(f"{where}: duplicate mixture_ID {mix_id!r} (first: {seen[mix_id]})")
            seen[mix_id] = where
            try:
                length = int(float(row[col["length"]]))
            except ValueError:
                length = -1
            if length <= 0:
                raise DataFileError(
                    f"{where}: length must be a positive number of samples, got "
                    f"{row[col['length']]!r}"
                )
            name = f"{mix_id}.wav"
            out.append(
                Mixture(
                    mix_id=mix_id,
                    where=where,
                    length=length,
                    mix_path=split_dir / mix_sub / name,
                    source_paths=[split_dir / f"s{i}" / name for i in range(1, opts.num_spk + 1)],
                    noise_path=split_dir / "noise" / name if opts.mix == "both" else None,
                    utt_ids=utt_ids,
                    speakers=speakers,
                )
            )
    if not out:
        raise DataFileError(f"{csv_path}: no mixture listed (only a header)")
    return out


def find_librispeech_subset(librispeech_root: PathLike, subset: str) -> Path:
    """The LibriSpeech subset dir: ``<root>/<subset>`` or ``<root>/LibriSpeech/<subset>``.

    Raises:
        DataFileError: neither exists; names both paths looked at.
    """
    root = Path(librispeech_root)
    if not root.is_dir():
        raise DataFileError(
            f"--librispeech_root {root}: directory not found (expected the LibriSpeech "
            f"directory holding {subset}/, or its parent)"
        )
    candidates = [root / subset, root / "LibriSpeech" / subset]
    for path in candidates:
        if path.is_dir():
            return path
    raise DataFileError(
        f"LibriSpeech {subset} not found: looked for {candidates[0]} and {candidates[1]} "
        f"(the transcripts of the LibriMix mixtures come from it; download "
        f"https://www.openslr.org/resources/12/{subset}.tar.gz)"
    )


def read_transcripts(subset_dir: PathLike, utt_ids: Sequence[str]) -> Dict[str, str]:
    """Transcripts of LibriSpeech utterances from ``<spk>/<chapter>/<spk>-<chapter>.trans.txt``.

    Args:
        subset_dir: A LibriSpeech subset dir (e.g. ``LibriSpeech/test-clean``).
        utt_ids: Utterance ids ``<spk>-<chapter>-<utt>``.

    Returns:
        ``{utt_id: TRANSCRIPT}`` (LibriSpeech's normalisation: upper case, apostrophes;
        whitespace collapsed to single spaces).

    Raises:
        DataFileError: a missing ``.trans.txt`` or an utterance absent from it (names the
            file), or a malformed line (``file:line``).
    """
    subset_dir = Path(subset_dir)
    chapters: Dict[Tuple[str, str], List[str]] = {}
    for utt in utt_ids:
        spk, chapter, _ = utt.split("-")
        chapters.setdefault((spk, chapter), []).append(utt)
    out: Dict[str, str] = {}
    for (spk, chapter), utts in sorted(chapters.items()):
        path = subset_dir / spk / chapter / f"{spk}-{chapter}.trans.txt"
        if not path.is_file():
            raise DataFileError(
                f"{path}: LibriSpeech transcript file not found (needed for {utts[0]}; "
                f"is {subset_dir} completely extracted?)"
            )
        texts: Dict[str, str] = {}
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                parts = line.split(maxsplit=1)
                if not parts:
                    continue
                if len(parts) != 2:
                    raise DataFileError(f"{path}:{lineno}: expected '<utt> <TRANSCRIPT>'")
                texts[parts[0]] = " ".join(parts[1].split())
        for utt in utts:
            if utt not in texts:
                raise DataFileError(f"{path}: no transcript for {utt}")
            out[utt] = texts[utt]
    return out


def _check_files(mixtures: Sequence[Mixture], csv_path: Path, split_dir: Path) -> None:
    """Every file a CSV lists must be in the tree (else: a half-generated/extracted split)."""
    missing = []
    total = 0
    for m in mixtures:
        for path in [m.mix_path, *m.source_paths] + ([m.noise_path] if m.noise_path else []):
            total += 1
            if not path.is_file():
                missing.append((m.where, path))
    if missing:
        where, path = missing[0]
        raise DataFileError(
            f"{split_dir}: {len(missing)} of the {total} audio files listed by {csv_path} "
            f"are missing (first: {path}, for {where}); the split is only partly generated "
            f"or extracted"
        )


def _analyse(job: Tuple[Mixture, int]) -> Dict[str, object]:
    """Check the audio of one mixture and find each source's active regions."""
    m, rate = job
    try:
        info = soundfile.info(str(m.mix_path))
    except Exception as e:  # LibsndfileError / RuntimeError
        raise AudioError(f"{m.mix_path}: cannot read audio ({e})") from e
    if info.samplerate != rate:
        raise AudioError(
            f"{m.mix_path}: sample rate {info.samplerate} Hz, expected {rate} Hz "
            f"(the wav{rate // 1000}k tree of --fs {rate // 1000}k)"
        )
    num_samples = int(info.frames)
    if num_samples != m.length:
        raise AudioError(
            f"{m.mix_path}: {num_samples} samples, but {m.where} says length {m.length}"
        )
    if info.channels != 1:
        raise AudioError(f"{m.mix_path}: expected mono audio, got {info.channels} channels")
    segments = []
    others = [("source", p) for p in m.source_paths]
    if m.noise_path is not None:
        others.append(("noise", m.noise_path))
    for kind, path in others:
        wav, got = read_audio(path)
        if got != rate:
            raise AudioError(
                f"{path}: sample rate {got} Hz, expected {rate} Hz (the wav{rate // 1000}k "
                f"tree of --fs {rate // 1000}k)"
            )
        if wav.size != num_samples:
            raise AudioError(
                f"{path}: {wav.size} samples, its mixture {m.mix_path} has {num_samples} "
                f"(LibriMix writes every source and the noise at the mixture's length)"
            )
        if kind == "source":
            segs = activity_segments(
                wav, rate, ACTIVITY_THRESHOLD_DB, ACTIVITY_FRAME_MS, ACTIVITY_MIN_SILENCE_S
            )
            if not segs:
                raise AudioError(f"{path}: silent source: no speaker turn can be derived")
            segments.append(segs)
    return {"num_samples": num_samples, "segments": segments}


def _split_lines(
    mixtures: Sequence[Mixture], results: Dict[str, Dict[str, object]], rate: int
) -> Tuple[Dict[str, Dict[str, str]], List[str], List[str]]:
    """The Kaldi-map files and the two RTTMs of one split."""
    maps: Dict[str, Dict[str, str]] = {
        name: {} for name in ("wav.scp", "noise.scp", "utt2spk", "utt2spks",
                              "utt2num_spk", "utt2num_samples")
    }
    num_spk = len(mixtures[0].source_paths)
    for n in range(1, num_spk + 1):
        maps[f"spk{n}.scp"] = {}
        maps[f"text_spk{n}"] = {}
    rttm, espnet_rttm = [], []
    for m in sorted(mixtures, key=lambda x: x.mix_id):
        res = results[m.mix_id]
        maps["wav.scp"][m.mix_id] = str(m.mix_path.resolve())
        if m.noise_path is not None:
            maps["noise.scp"][m.mix_id] = str(m.noise_path.resolve())
        maps["utt2spk"][m.mix_id] = m.mix_id
        maps["utt2spks"][m.mix_id] = " ".join(m.speakers)
        maps["utt2num_spk"][m.mix_id] = str(num_spk)
        maps["utt2num_samples"][m.mix_id] = str(res["num_samples"])
        events = []
        for n, (path, spk, text, segs) in enumerate(
            zip(m.source_paths, m.speakers, m.texts, res["segments"]), 1
        ):
            maps[f"spk{n}.scp"][m.mix_id] = str(path.resolve())
            maps[f"text_spk{n}"][m.mix_id] = text
            for start, end in segs:
                rttm.append(format_rttm_line(m.mix_id, start / rate, (end - start) / rate, spk))
                events.append((spk, start, end))
        espnet_rttm += format_espnet_rttm_lines(m.mix_id, events, res["num_samples"])
    if not maps["noise.scp"]:
        del maps["noise.scp"]
    return maps, rttm, espnet_rttm


def prepare_librimix(
    librimix_root: PathLike,
    librispeech_root: PathLike,
    out_dir: PathLike,
    opts: LibriMixOptions,
    nj: int = 1,
) -> List[Path]:
    """Write ``<out_dir>/{train,dev,test}`` from a generated LibriMix tree (module docstring).

    Args:
        librimix_root: Dir holding ``Libri2Mix``/``Libri3Mix``.
        librispeech_root: The ``LibriSpeech`` dir or its parent.
        out_dir: Parent of the data dirs (``data``).
        opts: The variant.
        nj: Parallel processes for the audio checks and activity detection.

    Returns:
        The data dirs (written or up to date).

    Raises:
        DataFileError: missing dir, metadata file or transcript, bad CSV (names it).
        AudioError: a missing, unreadable, wrong-rate, multi-channel or wrong-length wav,
            or a silent source (names it).
        FileExistsError: an output dir exists and is not an earlier output of this tool.
        Nothing is written when any of these is raised.
    """
    mode_dir = corpus_dir(librimix_root, opts)
    out_dir = Path(out_dir)
    plans = []
    for name, split in opts.splits:
        split_dir = mode_dir / split
        csv_path = mode_dir / "metadata" / f"mixture_{split}_{MIX_TYPES[opts.mix]}.csv"
        if not split_dir.is_dir():
            have = sorted(p.name for p in mode_dir.iterdir() if p.is_dir())
            raise DataFileError(
                f"{split_dir}: LibriMix split directory not found (found in {mode_dir}: "
                f"{', '.join(have) or 'nothing'})"
            )
        mixtures = read_mixture_csv(csv_path, split_dir, opts)
        stamp = {
            "version": _VERSION,
            "options": asdict(opts),
            "librimix_root": str(Path(librimix_root).resolve()),
            "librispeech_root": str(Path(librispeech_root).resolve()),
            "split": split,
            "csv": str(csv_path.resolve()),
            "csv_sha256": file_digest(csv_path),
        }
        plans.append((name, split, split_dir, csv_path, mixtures, stamp))
    dsts = [out_dir / name for name, *_ in plans]
    if all(stamp_is_current(d, p[5], STAMP_NAME) for d, p in zip(dsts, plans)):
        logging.info("%s: up to date; skipped", ", ".join(map(str, dsts)))
        return dsts
    # Everything is checked before anything is written.
    for dst in dsts:
        if dst.is_symlink() or (dst.exists() and not dst.is_dir()):
            raise FileExistsError(f"{dst}: exists and is not a directory")
        if dst.is_dir() and any(dst.iterdir()) and not (dst / STAMP_NAME).is_file():
            raise FileExistsError(
                f"{dst}: exists and is not an earlier output of prepare_librimix (no "
                f"{STAMP_NAME}); refusing to replace it: remove it or choose another --out_dir"
            )
    for name, split, split_dir, csv_path, mixtures, _ in plans:
        _check_files(mixtures, csv_path, split_dir)
        subset_dir = find_librispeech_subset(librispeech_root, LIBRISPEECH_SUBSETS[split])
        texts = read_transcripts(subset_dir, [u for m in mixtures for u in m.utt_ids])
        for m in mixtures:
            m.texts = [texts[u] for u in m.utt_ids]
    all_results = []
    with _pool(nj) as pool:
        for name, split, split_dir, csv_path, mixtures, _ in plans:
            logging.info("%s: checking %d mixtures of %s", name, len(mixtures), split_dir)
            jobs = [(m, opts.rate) for m in mixtures]
            results = pool.map(_analyse, jobs, chunksize=8) if pool else list(map(_analyse, jobs))
            all_results.append({m.mix_id: r for m, r in zip(mixtures, results)})
    for dst, plan, results in zip(dsts, plans, all_results):
        name, split, split_dir, csv_path, mixtures, stamp = plan
        maps, rttm, espnet_rttm = _split_lines(mixtures, results, opts.rate)
        with staged_dir(dst, STAMP_NAME) as tmp:
            for fname, mapping in maps.items():
                write_kaldi_map(tmp / fname, mapping)
            write_kaldi_map(tmp / "spk2utt", maps["utt2spk"])
            for fname, lines in (("rttm", rttm), ("espnet_rttm", espnet_rttm)):
                with open(tmp / fname, "w", encoding="utf-8") as f:
                    f.writelines(line + "\n" for line in lines)
            write_stamp(tmp, stamp, STAMP_NAME)
        logging.info("%s: %d mixtures of Libri%dMix %s/%s/%s -> %s", name, len(mixtures),
                     opts.num_spk, opts.fs, opts.mode, split, dst)
    return dsts


class _pool:
    """A multiprocessing pool for ``nj > 1``, else None (context manager)."""

    def __init__(self, nj: int) -> None:
        self.nj = max(int(nj), 1)
        self.pool = None

    def __enter__(self):
        if self.nj > 1:
            self.pool = multiprocessing.get_context("fork").Pool(self.nj)
        return self.pool

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            if exc[0] is not None:
                self.pool.terminate()
            else:
                self.pool.close()
            self.pool.join()


# ----------------------------------------------------------------------------------------
# A tiny tree in LibriMix's layout (tests, smoke runs of the recipe)
# ----------------------------------------------------------------------------------------
def write_fake_librimix(
    root: PathLike,
    num_spk: int = 2,
    fs: str = "8k",
    mode: str = "min",
    train_set: str = "train-100",
    mixtures_per_split: int = 2,
    seed: int = 0,
) -> Dict[str, Dict[str, object]]:
    """Write a tiny LibriMix + LibriSpeech tree with synthesised audio under ``root``.

    ``root/Libri<n>Mix/wav<fs>/<mode>/{<train_set>,dev,test}/{s1..sn,noise,mix_clean,
    mix_both}/<id>.wav`` and ``metadata/mixture_<split>_mix_{clean,both}.csv`` in
    LibriMix's column layout (absolute paths, ``length``), and
    ``root/LibriSpeech/<subset>/<spk>/<chapter>/<spk>-<chapter>.trans.txt``. Each source
    (0.5-1 s before the ``min``/``max`` fit) is two tone bursts with a 0.3 s pause; the
    noise is white noise 30 dB below the speech; PCM_16 as LibriMix writes it.

    Returns:
        ``{mixture_ID: {"split", "texts", "speakers", "bursts", "num_samples"}}`` with
        ``bursts`` per source the ``[(start, end), ...]`` sample ranges of its tones in the
        mixture (``end`` exclusive).
    """
    rng = np.random.default_rng(seed)
    rate = FS_CHOICES[fs]
    root = Path(root)
    mode_dir = root / f"Libri{num_spk}Mix" / f"wav{fs}" / mode
    (mode_dir / "metadata").mkdir(parents=True, exist_ok=True)
    words = ["HELLO", "WORLD", "IT'S", "A", "TINY", "TEST", "OF", "LIBRI", "MIX", "AGAIN"]
    truth: Dict[str, Dict[str, object]] = {}
    next_spk = 100
    for split in (train_set, "dev", "test"):
        subset = LIBRISPEECH_SUBSETS[split]
        rows = {"mix_clean": [], "mix_both": []}
        for j in range(mixtures_per_split):
            utts, texts, srcs, bursts = [], [], [], []
            for _ in range(num_spk):
                spk, chapter = str(next_spk), str(1000 + next_spk)
                next_spk += 1
                utt = f"{spk}-{chapter}-{j:04d}"
                text = " ".join(rng.choice(words, size=int(rng.integers(2, 6))))
                trans = root / "LibriSpeech" / subset / spk / chapter / f"{spk}-{chapter}.trans.txt"
                trans.parent.mkdir(parents=True, exist_ok=True)
                with open(trans, "a", encoding="utf-8") as f:
                    f.write(f"{utt} {text}\n")
                n = int(rng.uniform(0.5, 1.0) * rate)
                sig = np.zeros(n)
                t = np.arange(n) / rate
                freq = rng.uniform(150, 400)
                a = int(0.05 * rate)
                gap = int(0.3 * rate)
                b = a + (n - a - gap - int(0.05 * rate)) // 2
                ranges = [(a, b), (b + gap, n - int(0.05 * rate))]
                for s, e in ranges:
                    sig[s:e] = 0.3 * np.sin(2 * np.pi * freq * t[s:e])
                utts.append(utt)
                texts.append(text)
                srcs.append(sig)
                bursts.append(ranges)
            target = (min if mode == "min" else max)(len(s) for s in srcs)
            srcs = [np.pad(s, (0, max(target - len(s), 0)))[:target] for s in srcs]
            bursts = [[(s, min(e, target)) for s, e in r if s < target] for r in bursts]
            noise = rng.standard_normal(target) * 0.3 / np.sqrt(2) * 10 ** (-30 / 20)
            mix_id = "_".join(utts)
            split_dir = mode_dir / split
            paths = {}
            for name, sig in [(f"s{i + 1}", s) for i, s in enumerate(srcs)] + [
                ("noise", noise), ("mix_clean", sum(srcs)), ("mix_both", sum(srcs) + noise)
            ]:
                path = split_dir / name / f"{mix_id}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                soundfile.write(str(path), sig, rate, subtype="PCM_16")
                paths[name] = str(path.resolve())
            src_cols = [paths[f"s{i + 1}"] for i in range(num_spk)]
            rows["mix_clean"].append([mix_id, paths["mix_clean"], *src_cols, target])
            rows["mix_both"].append([mix_id, paths["mix_both"], *src_cols, paths["noise"], target])
            truth[mix_id] = dict(split=split, texts=texts, speakers=[u.split("-")[0] for u in utts],
                                 bursts=bursts, num_samples=target)
        for mix_type, lines in rows.items():
            header = ["mixture_ID", "mixture_path"] + [f"source_{i + 1}_path" for i in range(num_spk)]
            header += (["noise_path"] if mix_type == "mix_both" else []) + ["length"]
            with open(mode_dir / "metadata" / f"mixture_{split}_{mix_type}.csv", "w",
                      encoding="utf-8", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(header)
                writer.writerows(lines)
    return truth

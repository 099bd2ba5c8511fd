# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""VoxCeleb2-Mix: Echo's protocol on VoxCeleb2 (1..K_max speakers, unknown K, no text).

Pipeline (``python -m espnet_echo.bin.prepare_voxceleb2mix``; files: docs/CONTRACT.md):

1. **Scan** the user's VoxCeleb2 tree (:func:`scan_tree`). For each subset (``dev``,
   ``test``) the first of ``<root>/<subset>/aac``, ``<root>/<subset>/wav`` and
   ``<root>/<subset>`` that holds speaker dirs is used; inside it the layout of the
   release is ``<id#####>/<video_id>/<nnnnn>.m4a`` (the audio release, AAC in MP4), or
   the same with ``.wav`` (or ``.flac``) after the usual conversion to 16 kHz mono
   (``ffmpeg -y -i in.m4a -ac 1 -vn -acodec pcm_s16le -ar 16000 out.wav``). Speaker ids
   are the directory names (``id00012``). An optional ``vox2_meta.csv`` (columns
   ``VoxCeleb2 ID, VGGFace2 ID, Gender, Set``; cells may carry padding spaces as in the
   released file) is checked against the tree: every scanned speaker must be listed,
   with its ``Set`` equal to the subset it was found in.
2. **Speaker-disjoint split** (:func:`split_speakers`): with ``test_from="vox2_test"``
   the test speakers are drawn from VoxCeleb2's own test subset and train/dev from its
   dev subset; with ``test_from="pool"`` all three are drawn from the scanned speakers.
   The draw is a seeded permutation of the sorted ids (``default_rng([seed, 7])``), so
   the split depends only on the tree and the seed. No speaker is in two splits.
3. **Mixtures** (:func:`draw_mixtures`): mixture ``i`` of split ``s`` draws from
   ``default_rng([seed, s, i])`` its K (uniform over ``min_spk..max_spk``), K distinct
   speakers of the split, one utterance each (from each speaker's seeded pool of at most
   ``utts_per_spk`` utterances) and a crop position for sources longer than
   ``max_source_sec``; the simulator's :func:`espnet_echo.simulate.mixture.mix_sources`
   places, levels and adds noise with ``default_rng([seed, s, i, 1])`` (overlap ratio,
   gaps, gains, SNR, noise colour: :class:`~espnet_echo.simulate.mixture.MixConfig`).
   Results do not depend on ``nj``.
4. **Writing** reuses the simulator's writers (``wav_paths``, ``write_wav``,
   ``format_rttm``, ``format_espnet_rttm``): ``<wav_dir>/<split>/{mix,s1..sK,noise}``
   and the contract files of ``<out_dir>/<split>``, *without* ``text_spk{n}``
   (VoxCeleb2 has no transcripts; the data-dir reader and the dump accept that).
   ``utt2spks`` holds the VoxCeleb2 ids in source order; ``utt2src`` the source
   utterances (``<subset>/<id>/<video>/<n>``, source order) for provenance.

**Activity rule (RTTM).** The simulator's energy rule on each placed int16 source
(:func:`espnet_echo.simulate.mixture.activity_segments`): a 10 ms frame is active when
its energy is within ``activity_threshold_db`` (default -40 dB) of the source's loudest
frame; pauses shorter than ``min_silence`` (0.2 s) do not split a turn. VoxCeleb2 clips
are "in the wild" (background talk, music, laughter), so the turns mark where the
*clip* is active, which over-covers the target speaker's speech in noisy clips; raise
``activity_threshold_db`` (e.g. -30) for tighter turns.

**Errors.** Everything that can be checked before writing is: the root and subset dirs,
speaker dirs without audio (half-extracted archives), empty audio files, the metadata
file, the speaker counts each split needs, and for every source a mixture uses: its
header, truncation and sample rate (wav/flac; refused unless ``resample``) and an m4a
decoder (:func:`m4a_decoder`: ``ffmpeg`` on ``PATH``, else soundfile or torchaudio if
they can read the file; the first m4a file is decoded and its rate checked; the others
are checked as they are decoded, after writing has begun). Each problem is one
:class:`VoxCeleb2MixError` naming the path, raised before any output file or directory
is created. Each split's data dir is built
in a temporary dir and swapped in whole (:func:`espnet_echo.utils.fileio.staged_dir`).
"""

import csv
import io
import json
import logging
import multiprocessing
import re
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import soundfile

from espnet_echo.data.contract import MAX_SPK
from espnet_echo.simulate.corpus import (
    check_writable,
    format_espnet_rttm,
    format_rttm,
    wav_paths,
    write_wav,
)
from espnet_echo.simulate.errors import SimulateError
from espnet_echo.simulate.mixture import MixConfig, mix_sources
from espnet_echo.utils.audio import AudioError, check_signal, conform_audio, wav_truncation
from espnet_echo.utils.fileio import atomic_open, staged_dir, write_kaldi_map

SPLITS = ("train", "dev", "test")
SUBSETS = ("dev", "test")
AUDIO_EXTS = (".m4a", ".wav", ".flac")
SPEAKER_DIR = re.compile(r"^id\d{5}$")
META_FILE = "vox2_meta.csv"
META_COLUMNS = ("VoxCeleb2 ID", "VGGFace2 ID", "Gender", "Set")
TEST_FROM = ("vox2_test", "pool")
#: The stamp each data dir holds (staged_dir's owner file).
STAMP = ".prepare_voxceleb2mix.json"
FFMPEG_CONVERT = "ffmpeg -y -i in.m4a -ac 1 -vn -acodec pcm_s16le -ar 16000 out.wav"

logger = logging.getLogger(__name__)


class VoxCeleb2MixError(ValueError):
    """The corpus cannot be built; the message names the path and the problem."""


@dataclass
class Vox2MixConfig:
    """Everything that defines a VoxCeleb2-Mix corpus (the CLI flags).

    Attributes:
        root: VoxCeleb2 root (holding ``dev/`` and/or ``test/``).
        out_dir: Data dir; ``<out_dir>/<split>/`` receives the contract files.
        wav_dir: Audio dir; ``<wav_dir>/<split>/{mix,s1..sK,noise}/<utt>.wav``.
        meta_csv: ``vox2_meta.csv`` to check the tree against; default
            ``<root>/vox2_meta.csv`` when it exists, else no check. A path given here must
            exist.
        test_from: ``"vox2_test"`` (test speakers = VoxCeleb2 test subset) or ``"pool"``.
        num_train_spk: Training speakers (-1: every speaker left after dev/test).
        num_dev_spk: Validation speakers.
        num_test_spk: Test speakers (-1: every VoxCeleb2 test speaker, ``vox2_test``).
        num_train: Mixtures in train.
        num_dev: Mixtures in dev.
        num_test: Mixtures in test.
        min_spk: Smallest K.
        max_spk: Largest K (K_max, at most ``MAX_SPK``).
        utts_per_spk: Most utterances per speaker the mixtures draw from (seeded pool).
        max_source_sec: Longer sources are cropped to a seeded window of this length
            (0: never cropped).
        resample: Resample sources whose rate is not ``mix.fs`` instead of failing.
        seed: Random seed.
        nj: Worker processes.
        mix: Mixing settings (the simulator's).
    """

    root: str = ""
    out_dir: str = "data"
    wav_dir: str = "data/wav"
    meta_csv: Optional[str] = None
    test_from: str = "vox2_test"
    num_train_spk: int = -1
    num_dev_spk: int = 20
    num_test_spk: int = -1
    num_train: int = 20000
    num_dev: int = 500
    num_test: int = 1000
    min_spk: int = 1
    max_spk: int = 4
    utts_per_spk: int = 20
    max_source_sec: float = 6.0
    resample: bool = False
    seed: int = 0
    nj: int = 2
    mix: MixConfig = field(default_factory=MixConfig)

    @property
    def num_mixtures(self) -> Dict[str, int]:
        """``{split: number of mixtures}``."""
        return {"train": self.num_train, "dev": self.num_dev, "test": self.num_test}

    def validate(self) -> None:
        """Raise :class:`VoxCeleb2MixError` naming the first bad setting."""
        if not 1 <= self.min_spk <= self.max_spk <= MAX_SPK:
            raise VoxCeleb2MixError(
                f"need 1 <= min_spk <= max_spk <= {MAX_SPK}, got min_spk={self.min_spk} "
                f"max_spk={self.max_spk}"
            )
        if self.test_from not in TEST_FROM:
            raise VoxCeleb2MixError(
                f"test_from must be one of {TEST_FROM}, got {self.test_from!r}"
            )
        for name in ("num_train", "num_dev", "num_test"):
            if getattr(self, name) < 0:
                raise VoxCeleb2MixError(f"{name} must be >= 0, got {getattr(self, name)}")
        if sum(self.num_mixtures.values()) == 0:
            raise VoxCeleb2MixError("nothing to build: num_train + num_dev + num_test is 0")
        for name in ("num_train_spk", "num_dev_spk", "num_test_spk"):
            value = getattr(self, name)
            if value < -1 or value == 0:
                raise VoxCeleb2MixError(f"{name} must be -1 (all) or >= 1, got {value}")
        if self.num_dev_spk == -1:
            raise VoxCeleb2MixError("num_dev_spk must be >= 1 (-1 is for train and test)")
        if self.test_from == "pool" and -1 in (self.num_train_spk, self.num_test_spk) and (
            self.num_train_spk == self.num_test_spk
        ):
            raise VoxCeleb2MixError(
                "with test_from=pool only one of num_train_spk/num_test_spk can be -1"
            )
        if self.utts_per_spk < 1:
            raise VoxCeleb2MixError(f"utts_per_spk must be >= 1, got {self.utts_per_spk}")
        if self.max_source_sec < 0:
            raise VoxCeleb2MixError(f"max_source_sec must be >= 0, got {self.max_source_sec}")
        if self.nj < 1:
            raise VoxCeleb2MixError(f"nj must be >= 1, got {self.nj}")
        if self.mix.fs != 16000:
            raise VoxCeleb2MixError(f"the contract fixes 16 kHz audio, got fs={self.mix.fs}")
        try:
            self.mix.validate()
        except ValueError as e:
            raise VoxCeleb2MixError(str(e)) from e


@dataclass
class Utterance:
    """One VoxCeleb2 utterance file.

    Attributes:
        subset: ``dev`` or ``test``.
        spk: Speaker id (``id00012``).
        video: YouTube video id.
        path: Absolute path of the audio file.
    """

    subset: str
    spk: str
    video: str
    path: str

    @property
    def name(self) -> str:
        """``<subset>/<id>/<video>/<n>`` (provenance in ``utt2src``)."""
        return f"{self.subset}/{self.spk}/{self.video}/{Path(self.path).stem}"


@dataclass
class MixSpec:
    """What one mixture is made of (drawn in the main process, realised by a worker)."""

    split: str
    index: int
    utt: str
    speakers: List[str]
    sources: List[Utterance]
    crop: List[float]
    mix_seed: List[int]


# --------------------------------------------------------------------------- scanning


def subset_candidates(root: Path, subset: str) -> List[Path]:
    """Where the speaker dirs of ``subset`` are looked for, in order."""
    return [root / subset / "aac", root / subset / "wav", root / subset]


def _speaker_dirs(directory: Path) -> List[Path]:
    if not directory.is_dir():
        return []
    return sorted(
        p for p in directory.iterdir() if p.is_dir() and SPEAKER_DIR.match(p.name)
    )


def scan_tree(
    root: str, subsets: Sequence[str] = SUBSETS
) -> Dict[str, Dict[str, List[Utterance]]]:
    """Per-subset, per-speaker utterance lists of a VoxCeleb2 tree.

    Args:
        root: VoxCeleb2 root.
        subsets: Subsets to look for; those without speaker dirs are left out.

    Returns:
        ``{subset: {speaker: [Utterance sorted by path]}}`` (subsets that were found).

    Raises:
        VoxCeleb2MixError: the root does not exist or is not a dir, no subset holds a
            speaker dir (naming every path looked at), a speaker is in two subsets, a
            speaker dir holds no ``<video>/<n>.{m4a,wav,flac}`` file, or an audio file
            is empty (a half-extracted archive).
    """
    root_path = Path(root)
    if not str(root):
        raise VoxCeleb2MixError("no VoxCeleb2 root given (--vox2_root / --root)")
    if not root_path.exists():
        raise VoxCeleb2MixError(f"{root_path}: VoxCeleb2 root does not exist")
    if not root_path.is_dir():
        raise VoxCeleb2MixError(f"{root_path}: VoxCeleb2 root is not a directory")
    root_path = root_path.resolve()
    out: Dict[str, Dict[str, List[Utterance]]] = {}
    owner: Dict[str, str] = {}
    looked: List[str] = []
    for subset in subsets:
        base = None
        for cand in subset_candidates(root_path, subset):
            looked.append(str(cand))
            if _speaker_dirs(cand):
                base = cand
                break
        if base is None:
            continue
        speakers: Dict[str, List[Utterance]] = {}
        for spk_dir in _speaker_dirs(base):
            spk = spk_dir.name
            if spk in owner:
                raise VoxCeleb2MixError(
                    f"{spk_dir}: speaker {spk} is also in the {owner[spk]} subset; "
                    f"VoxCeleb2's dev and test speakers are disjoint"
                )
            owner[spk] = subset
            utts = []
            for video in sorted(p for p in spk_dir.iterdir() if p.is_dir()):
                for f in sorted(video.iterdir()):
                    if f.suffix.lower() not in AUDIO_EXTS or not f.is_file():
                        continue
                    if f.stat().st_size == 0:
                        raise VoxCeleb2MixError(
                            f"{f}: empty audio file (a half-extracted archive?); "
                            f"re-extract {spk_dir}"
                        )
                    utts.append(Utterance(subset, spk, video.name, str(f)))
            if not utts:
                raise VoxCeleb2MixError(
                    f"{spk_dir}: speaker dir holds no <video_id>/<nnnnn>"
                    f"{{{','.join(AUDIO_EXTS)}}} file (a half-extracted archive?); "
                    f"re-extract it or remove it"
                )
            speakers[spk] = utts
        out[subset] = speakers
    if not out:
        raise VoxCeleb2MixError(
            f"{root_path}: no VoxCeleb2 speaker dir (id#####/<video_id>/<nnnnn>.m4a or "
            f".wav) found; looked in: {', '.join(looked)}"
        )
    return out


def read_meta(path: Path) -> Dict[str, Tuple[str, str]]:
    """``{VoxCeleb2 ID: (Gender, Set)}`` from ``vox2_meta.csv``.

    Raises:
        VoxCeleb2MixError: missing file, missing columns, or a malformed row
            (``file:line``).
    """
    if not path.is_file():
        raise VoxCeleb2MixError(f"{path}: VoxCeleb2 metadata file not found")
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise VoxCeleb2MixError(f"{path}: empty metadata file")
    header = [c.strip() for c in rows[0]]
    missing = [c for c in META_COLUMNS if c not in header]
    if missing:
        raise VoxCeleb2MixError(
            f"{path}:1: missing column(s) {missing}; expected {list(META_COLUMNS)}, "
            f"got {header}"
        )
    col = {c: header.index(c) for c in META_COLUMNS}
    meta = {}
    for lineno, row in enumerate(rows[1:], 2):
        if not any(c.strip() for c in row):
            continue
        if len(row) < len(header):
            raise VoxCeleb2MixError(
                f"{path}:{lineno}: {len(row)} columns, expected {len(header)}"
            )
        spk = row[col["VoxCeleb2 ID"]].strip()
        subset = row[col["Set"]].strip()
        if not SPEAKER_DIR.match(spk) or subset not in SUBSETS:
            raise VoxCeleb2MixError(
                f"{path}:{lineno}: expected a VoxCeleb2 ID like id00012 and Set dev or "
                f"test, got {spk!r} and {subset!r}"
            )
        meta[spk] = (row[col["Gender"]].strip(), subset)
    return meta


def check_meta(tree: Dict[str, Dict[str, List[Utterance]]], meta_path: Path) -> None:
    """Every scanned speaker is in ``vox2_meta.csv`` with the subset it was found in."""
    meta = read_meta(meta_path)
    for subset, speakers in tree.items():
        for spk, utts in speakers.items():
            if spk not in meta:
                raise VoxCeleb2MixError(
                    f"{Path(utts[0].path).parents[1]}: speaker {spk} is not in {meta_path}"
                )
            if meta[spk][1] != subset:
                raise VoxCeleb2MixError(
                    f"{Path(utts[0].path).parents[1]}: speaker {spk} was found in the "
                    f"{subset} subset but {meta_path} lists it in {meta[spk][1]}"
                )


# ------------------------------------------------------------------------ splitting


def split_speakers(
    tree: Dict[str, Dict[str, List[Utterance]]], config: Vox2MixConfig, root: str = ""
) -> Dict[str, List[str]]:
    """Speaker-disjoint train/dev/test speaker lists (sorted).

    Raises:
        VoxCeleb2MixError: the test subset is missing for ``test_from=vox2_test``, or
            there are too few speakers for the requested counts (every split needs at
            least ``max_spk`` speakers for a K_max mixture).
    """
    need = config.max_spk
    rng = np.random.default_rng([config.seed, 7])

    def take(pool: List[str], n: int, what: str) -> Tuple[List[str], List[str]]:
        if n == -1:
            n = len(pool)
        if n > len(pool):
            raise VoxCeleb2MixError(
                f"{root}: {what} needs {n} speakers but only {len(pool)} are left "
                f"(found {sum(len(s) for s in tree.values())} speakers: "
                + ", ".join(f"{k} {len(v)}" for k, v in tree.items())
                + "); lower the speaker counts (--num_*_spk)"
            )
        return pool[:n], pool[n:]

    if config.test_from == "vox2_test":
        if "test" not in tree:
            raise VoxCeleb2MixError(
                f"{root}: test_from=vox2_test needs the VoxCeleb2 test subset, looked in "
                + ", ".join(str(p) for p in subset_candidates(Path(root), "test"))
                + "; extract vox2_test_aac (or use --test_from pool)"
            )
        if "dev" not in tree:
            raise VoxCeleb2MixError(
                f"{root}: no dev subset (train/dev speakers), looked in "
                + ", ".join(str(p) for p in subset_candidates(Path(root), "dev"))
            )
        test_pool = sorted(tree["test"])
        test_pool = [test_pool[j] for j in rng.permutation(len(test_pool))]
        test, _ = take(test_pool, config.num_test_spk, "the test split")
        dev_pool = sorted(tree["dev"])
        order = np.random.default_rng([config.seed, 8]).permutation(len(dev_pool))
        pool = [dev_pool[j] for j in order]
        dev, pool = take(pool, config.num_dev_spk, "the dev split")
    else:
        everyone = sorted(s for speakers in tree.values() for s in speakers)
        pool = [everyone[j] for j in rng.permutation(len(everyone))]
        dev, pool = take(pool, config.num_dev_spk, "the dev split")
        if config.num_test_spk == -1:
            n_train = config.num_train_spk
            train, pool = take(pool, n_train, "the train split")
            test, pool = take(pool, -1, "the test split")
            out = {"train": sorted(train), "dev": sorted(dev), "test": sorted(test)}
            _check_counts(out, need, root)
            return out
        test, pool = take(pool, config.num_test_spk, "the test split")
    train, _ = take(pool, config.num_train_spk, "the train split")
    out = {"train": sorted(train), "dev": sorted(dev), "test": sorted(test)}
    _check_counts(out, need, root)
    return out


def _check_counts(split_spk: Dict[str, List[str]], need: int, root: str) -> None:
    for split, spks in split_spk.items():
        if len(spks) < need:
            raise VoxCeleb2MixError(
                f"{root}: the {split} split gets {len(spks)} speakers, fewer than "
                f"max_spk={need} (a mixture needs max_spk distinct speakers); add "
                f"speakers to the tree, raise --num_{split}_spk or lower --max_spk"
            )


# ------------------------------------------------------------------------- drawing


def utterance_pools(
    tree: Dict[str, Dict[str, List[Utterance]]], speakers: Sequence[str], config: Vox2MixConfig
) -> Dict[str, List[Utterance]]:
    """Each speaker's seeded pool of at most ``utts_per_spk`` utterances."""
    by_spk = {spk: utts for subset in tree.values() for spk, utts in subset.items()}
    pools = {}
    for spk in speakers:
        utts = by_spk[spk]
        seed_int = int(spk[2:])
        order = np.random.default_rng([config.seed, 11, seed_int]).permutation(len(utts))
        pools[spk] = [utts[j] for j in sorted(order[: config.utts_per_spk])]
    return pools


def draw_mixtures(
    split: str, num: int, speakers: Sequence[str], pools: Dict[str, List[Utterance]],
    config: Vox2MixConfig,
) -> List[MixSpec]:
    """Draw K, K distinct speakers, one utterance each and a crop offset per mixture."""
    ks = list(range(config.min_spk, config.max_spk + 1))
    split_idx = SPLITS.index(split)
    specs = []
    for i in range(num):
        rng = np.random.default_rng([config.seed, split_idx, i])
        k = int(ks[rng.integers(len(ks))])
        chosen = [speakers[j] for j in rng.permutation(len(speakers))[:k]]
        sources = [pools[s][int(rng.integers(len(pools[s])))] for s in chosen]
        crop = [float(x) for x in rng.uniform(size=k)]
        specs.append(MixSpec(split, i, f"{split}_mix{i:06d}", chosen, sources, crop,
                             [config.seed, split_idx, i, 1]))
    return specs


# ------------------------------------------------------------------------ decoding


def m4a_decoder(sample: str) -> Optional[str]:
    """The first available way to decode m4a: ``"ffmpeg"``, ``"soundfile"``, ``"torchaudio"``.

    Args:
        sample: An m4a file to try soundfile/torchaudio on.

    Returns:
        The decoder's name, or None when nothing here can decode it.
    """
    if shutil.which("ffmpeg"):
        return "ffmpeg"
    try:
        soundfile.info(sample)
        return "soundfile"
    except Exception:  # libsndfile has no AAC decoder
        pass
    try:
        import torchaudio

        torchaudio.load(sample)
        return "torchaudio"
    except Exception:  # no backend that reads AAC
        return None


def read_source(path: str, decoder: Optional[str]) -> Tuple[np.ndarray, int]:
    """Read one utterance at its own rate (m4a through ``decoder``).

    Raises:
        AudioError: unreadable, truncated, multi-channel, empty or NaN/Inf audio.
    """
    if Path(path).suffix.lower() != ".m4a" or decoder == "soundfile":
        problem = wav_truncation(path)
        if problem:
            raise AudioError(f"{path}: {problem}")
        try:
            wav, rate = soundfile.read(path, dtype="float32", always_2d=True)
        except Exception as e:
            raise AudioError(f"{path}: cannot read audio ({e})") from e
        return check_signal(wav, path), int(rate)
    if decoder == "ffmpeg":
        cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-vn", "-ac", "1",
               "-acodec", "pcm_s16le", "-f", "wav", "-"]
        proc = subprocess.run(cmd, capture_output=True)
        if proc.returncode != 0:
            msg = proc.stderr.decode(errors="replace").strip().splitlines()
            why = msg[-1] if msg else f"exit status {proc.returncode}"
            raise AudioError(f"{path}: ffmpeg cannot decode it ({why})")
        wav, rate = soundfile.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
        return check_signal(wav, path), int(rate)
    if decoder == "torchaudio":
        import torchaudio

        try:
            wav, rate = torchaudio.load(path)
        except Exception as e:
            raise AudioError(f"{path}: cannot read audio ({e})") from e
        return check_signal(wav.numpy().T, path), int(rate)
    raise AudioError(no_decoder_message(path))


def no_decoder_message(path: str) -> str:
    """The error for an m4a file that nothing here can decode."""
    return (
        f"{path}: cannot decode m4a (AAC): ffmpeg is not on PATH and neither soundfile nor "
        f"torchaudio can read it; install ffmpeg (apt-get install ffmpeg) or convert the "
        f"tree to 16 kHz wav, file by file: {FFMPEG_CONVERT} (keep the "
        f"<id>/<video_id>/<nnnnn> layout, e.g. under <root>/dev/wav)"
    )


def preflight(specs: Sequence[MixSpec], config: Vox2MixConfig) -> Optional[str]:
    """Check every source a mixture uses before anything is written.

    Returns:
        The m4a decoder to use (None when no source is m4a).

    Raises:
        VoxCeleb2MixError: a source is missing, truncated or unreadable, has a rate other
            than ``mix.fs`` (without ``resample``), or is m4a without a decoder.
    """
    used = sorted({u.path for s in specs for u in s.sources})
    m4a = [p for p in used if Path(p).suffix.lower() == ".m4a"]
    decoder = None
    if m4a:
        decoder = m4a_decoder(m4a[0])
        if decoder is None:
            raise VoxCeleb2MixError(no_decoder_message(m4a[0]))
        # one file decoded now: a decoder that fails, or a rate the config does not
        # expect, stops the run before anything is written (VoxCeleb2's m4a are 16 kHz)
        try:
            _, rate = read_source(m4a[0], decoder)
        except AudioError as e:
            raise VoxCeleb2MixError(str(e)) from e
        if rate != config.mix.fs and not config.resample:
            raise VoxCeleb2MixError(
                f"{m4a[0]}: sample rate {rate} Hz, expected {config.mix.fs} Hz; pass "
                f"--resample true or convert the tree to {config.mix.fs} Hz"
            )
    for path in used:
        if Path(path).suffix.lower() == ".m4a" and decoder != "soundfile":
            continue  # checked when decoded (its rate through conform_audio)
        if not Path(path).is_file():
            raise VoxCeleb2MixError(f"{path}: audio file not found")
        problem = wav_truncation(path)
        if problem:
            raise VoxCeleb2MixError(f"{path}: {problem}")
        try:
            info = soundfile.info(path)
        except Exception as e:
            raise VoxCeleb2MixError(f"{path}: cannot read audio ({e})") from e
        if info.channels != 1:
            raise VoxCeleb2MixError(
                f"{path}: expected mono audio, got {info.channels} channels"
            )
        if info.samplerate != config.mix.fs and not config.resample:
            raise VoxCeleb2MixError(
                f"{path}: sample rate {info.samplerate} Hz, expected {config.mix.fs} Hz; "
                f"convert the tree to {config.mix.fs} Hz or pass --resample true"
            )
    return decoder


# -------------------------------------------------------------------------- mixing


def load_source(
    utt: Utterance, crop: float, config: Vox2MixConfig, decoder: Optional[str]
) -> np.ndarray:
    """One source at ``mix.fs``, cropped to ``max_source_sec`` at ``crop`` (0..1)."""
    wav, rate = read_source(utt.path, decoder)
    wav = conform_audio(
        wav, rate, utt.path, config.mix.fs, config.resample, allow_silent=False
    )
    n = int(round(config.max_source_sec * config.mix.fs))
    if n and wav.size > n:
        start = int(crop * (wav.size - n))
        wav = wav[start : start + n]
        if not np.any(wav):
            raise AudioError(f"{utt.path}: the cropped window is silent")
    return wav


def _mix_job(args: Tuple[MixSpec, Vox2MixConfig, str, Optional[str]]) -> Dict[str, object]:
    spec, config, wav_dir, decoder = args
    fs = config.mix.fs
    sources = [load_source(u, c, config, decoder) for u, c in zip(spec.sources, spec.crop)]
    mixture = mix_sources(sources, np.random.default_rng(spec.mix_seed), config.mix)
    for n, segs in enumerate(mixture.segments):
        if not segs:
            raise SimulateError(
                f"{spec.utt}: source {n + 1} ({spec.sources[n].path}) has no active segment"
            )
    paths = wav_paths(Path(wav_dir), spec.split, spec.utt, len(sources))
    write_wav(paths["mix"], mixture.mix, fs)
    write_wav(paths["noise"], mixture.noise, fs)
    for n in range(len(sources)):
        write_wav(paths[f"s{n + 1}"], mixture.sources[n], fs)
    return {
        "utt": spec.utt,
        "num_samples": int(mixture.mix.size),
        "segments": mixture.segments,
        "paths": {key: str(p) for key, p in paths.items()},
        "overlap": mixture.params["overlap"],
    }


def write_split(
    split_dir: Path, specs: Sequence[MixSpec], results: Dict[str, Dict[str, object]],
    max_spk: int, fs: int, stamp: Dict[str, object],
) -> None:
    """Write the contract files of one split, no ``text_spk{n}``, swapped in whole."""
    wav_scp, noise_scp, utt2spk, utt2spks, utt2src = {}, {}, {}, {}, {}
    utt2num_spk, utt2num_samples = {}, {}
    spk_scp: List[Dict[str, str]] = [{} for _ in range(max_spk)]
    rttm, espnet_rttm = [], []
    for spec in sorted(specs, key=lambda s: s.utt):
        res = results[spec.utt]
        paths = res["paths"]
        wav_scp[spec.utt] = paths["mix"]
        noise_scp[spec.utt] = paths["noise"]
        utt2spk[spec.utt] = spec.utt
        utt2spks[spec.utt] = " ".join(spec.speakers)
        utt2src[spec.utt] = " ".join(u.name for u in spec.sources)
        utt2num_spk[spec.utt] = len(spec.speakers)
        utt2num_samples[spec.utt] = res["num_samples"]
        for n in range(len(spec.speakers)):
            spk_scp[n][spec.utt] = paths[f"s{n + 1}"]
        rttm += format_rttm(spec.utt, res["segments"], spec.speakers, fs)
        espnet_rttm += format_espnet_rttm(
            spec.utt, res["segments"], spec.speakers, res["num_samples"]
        )
    with staged_dir(split_dir, STAMP) as tmp:
        write_kaldi_map(tmp / "wav.scp", wav_scp)
        for n in range(max_spk):
            write_kaldi_map(tmp / f"spk{n + 1}.scp", spk_scp[n])
        write_kaldi_map(tmp / "noise.scp", noise_scp)
        write_kaldi_map(tmp / "utt2spk", utt2spk)
        write_kaldi_map(tmp / "spk2utt", utt2spk)
        write_kaldi_map(tmp / "utt2spks", utt2spks)
        write_kaldi_map(tmp / "utt2src", utt2src)
        write_kaldi_map(tmp / "utt2num_spk", utt2num_spk)
        write_kaldi_map(tmp / "utt2num_samples", utt2num_samples)
        for name, lines in (("rttm", rttm), ("espnet_rttm", espnet_rttm)):
            with atomic_open(tmp / name) as f:
                f.writelines(line + "\n" for line in lines)
        with atomic_open(tmp / STAMP) as f:
            json.dump(stamp, f, indent=1, sort_keys=True)
            f.write("\n")


@dataclass
class Vox2MixSummary:
    """Statistics of a built corpus, printed by the CLI."""

    speakers: Dict[str, int]
    speakers_used: Dict[str, int]
    mixtures: Dict[str, int]
    num_spk_hist: Dict[str, Dict[int, int]]
    hours: Dict[str, float]
    decoder: Optional[str]
    wall_time: float

    def format(self) -> str:
        """Human-readable multi-line summary."""
        lines = []
        for split in self.mixtures:
            hist = " ".join(f"K={k}:{n}" for k, n in sorted(self.num_spk_hist[split].items()))
            lines.append(
                f"{split:5s}: {self.mixtures[split]:6d} mixtures, {self.speakers[split]:5d} "
                f"speakers ({self.speakers_used[split]} used), {self.hours[split]:8.3f} h, "
                f"{hist}"
            )
        lines.append(f"m4a decoder: {self.decoder or '-'}; wall time {self.wall_time:.1f} s")
        return "\n".join(lines)


def build_voxceleb2mix(config: Vox2MixConfig) -> Vox2MixSummary:
    """Build the corpus described by ``config`` (module docstring).

    Raises:
        VoxCeleb2MixError: bad settings, a missing or partial tree, metadata that does
            not match the tree, too few speakers, a bad source (rate, truncation, m4a
            without a decoder) — all before anything is written — or an unwritable
            output dir.
        AudioError, SimulateError: a source that passed the checks fails to decode or
            is silent where it is placed (the data dirs are then left as they were).
    """
    start_time = time.time()
    config.validate()
    tree = scan_tree(config.root)
    root = str(Path(config.root).resolve())
    meta = Path(config.meta_csv) if config.meta_csv else Path(root) / META_FILE
    if config.meta_csv or meta.is_file():
        check_meta(tree, meta)
    split_spk = split_speakers(tree, config, root)
    pools = utterance_pools(tree, [s for v in split_spk.values() for s in v], config)
    specs = {
        split: draw_mixtures(split, n, split_spk[split], pools, config)
        for split, n in config.num_mixtures.items() if n > 0
    }
    all_specs = [s for v in specs.values() for s in v]
    decoder = preflight(all_specs, config)
    out_dir, wav_dir = Path(config.out_dir).resolve(), Path(config.wav_dir).resolve()
    for split in specs:
        split_dir = out_dir / split
        foreign = split_dir.is_dir() and not (split_dir / STAMP).is_file()
        if foreign and any(split_dir.iterdir()):
            raise VoxCeleb2MixError(
                f"{split_dir}: exists and was not written by prepare_voxceleb2mix (no "
                f"{STAMP}); choose another --out_dir or remove it"
            )
    try:
        for directory in (out_dir, wav_dir):
            check_writable(directory)
    except SimulateError as e:
        raise VoxCeleb2MixError(str(e)) from e
    logger.info("mixing %d mixtures with nj=%d", len(all_specs), config.nj)
    jobs = [(s, config, str(wav_dir), decoder) for s in all_specs]
    if config.nj > 1:
        with multiprocessing.get_context("fork").Pool(config.nj) as pool:
            results = pool.map(_mix_job, jobs, chunksize=4)
    else:
        results = [_mix_job(j) for j in jobs]
    by_utt = {r["utt"]: r for r in results}
    mix_conf = asdict(config.mix)
    for split, split_specs in specs.items():
        stamp = {
            "root": root, "split": split, "speakers": split_spk[split], "seed": config.seed,
            "min_spk": config.min_spk, "max_spk": config.max_spk, "mix": mix_conf,
            "utts_per_spk": config.utts_per_spk, "max_source_sec": config.max_source_sec,
            "test_from": config.test_from,
        }
        write_split(out_dir / split, split_specs, by_utt, config.max_spk, config.mix.fs, stamp)
    fs = config.mix.fs
    return Vox2MixSummary(
        speakers={s: len(split_spk[s]) for s in specs},
        speakers_used={s: len({p for x in v for p in x.speakers}) for s, v in specs.items()},
        mixtures={s: len(v) for s, v in specs.items()},
        num_spk_hist={s: dict(Counter(len(x.speakers) for x in v)) for s, v in specs.items()},
        hours={
            s: sum(by_utt[x.utt]["num_samples"] for x in v) / fs / 3600
            for s, v in specs.items()
        },
        decoder=decoder,
        wall_time=time.time() - start_time,
    )

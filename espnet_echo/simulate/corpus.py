# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Build the offline multi-speaker corpus: TTS speakers x KJV sentences -> mixtures.

Pipeline (see docs/CONTRACT.md for the files written):

1. Speaker inventory (:mod:`voices`), split by *base voice* into speaker-disjoint
   train/dev/test sets (every perturbation of one person lands in the same split).
2. KJV sentences (:mod:`text`), shuffled and dealt out so that every speaker gets its own
   pool of ``utts_per_spk`` sentences (no transcript is shared by two speakers or splits).
3. Each mixture ``i`` of split ``s`` draws, from ``default_rng([seed, s, i])``, its number
   of speakers K, K speakers of distinct base voices and one pool sentence each; mixing
   (:mod:`mixture`) uses ``default_rng([seed, s, i, 1])``. Results therefore do not depend
   on ``nj`` or on run order, and the same seed gives byte-identical files.
4. The (speaker, sentence) pairs in use are synthesised in parallel into an on-disk cache,
   mixtures are written as 16-bit WAVs, and the data files are written atomically.
5. Optionally (:mod:`conversation`), long conversations (``test_conv``) and a speaker x
   content probe (``probe``) with the test speakers and the spare sentences (those in no
   speaker's pool), from their own random streams: the mixtures do not change with them.
"""

import contextlib
import hashlib
import importlib
import logging
import multiprocessing
import os
import re
import tempfile
import time
import wave
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from espnet_echo.data.contract import MAX_SPK
from espnet_echo.data.rttm import format_espnet_rttm_lines, format_rttm_line
from espnet_echo.simulate.conversation import (
    CONV_SPLIT,
    PROBE_SPLIT,
    SPEAKER_SPLIT,
    ConvConfig,
    draw_conversations,
    draw_probe_sentences,
    lay_out_conversation,
    probe_signal,
)
from espnet_echo.simulate.errors import SimulateError, require_binary
from espnet_echo.simulate.mixture import MixConfig, activity_segments, mix_sources
from espnet_echo.simulate.text import DEFAULT_BIBLE_RANGE, load_sentences
from espnet_echo.simulate.voices import (
    ENGINE_BINARIES,
    ENGINES,
    Speaker,
    build_inventory,
    check_speaker,
    synthesize,
)
from espnet_echo.utils.audio import load_audio
from espnet_echo.utils.fileio import PathLike, atomic_open, atomic_path, write_kaldi_map

SPLITS = ("train", "dev", "test")
# Splits that take their speakers from another split.
SPLIT_SPEAKERS = {CONV_SPLIT: SPEAKER_SPLIT, PROBE_SPLIT: SPEAKER_SPLIT}

# Bump when synthesis changes in a way that invalidates cached TTS audio.
TTS_CACHE_VERSION = 1

logger = logging.getLogger(__name__)


@dataclass
class CorpusConfig:
    """Everything that defines a corpus (the CLI flags of ``espnet_echo.bin.simulate``).

    Attributes:
        out_dir: Data directory; ``<out_dir>/<split>/`` receives the contract files.
        wav_dir: Audio directory; ``<wav_dir>/<split>/{mix,s1..sK,noise}/<utt>.wav``.
        cache_dir: TTS cache (default ``<wav_dir>/.tts_cache``).
        num_train: Mixtures in train.
        num_dev: Mixtures in dev.
        num_test: Mixtures in test.
        min_spk: Smallest K.
        max_spk: Largest K (at most ``MAX_SPK``); ``min_spk == max_spk`` fixes K.
        spk_weights: Relative probability of K = min_spk..max_spk (default uniform).
        split_fractions: Fractions of base voices for train/dev/test.
        utts_per_spk: Sentences in each speaker's pool.
        min_words: Shortest sentence in words.
        max_words: Longest sentence in words.
        bible_range: Verse range read with ``bible``.
        engines: TTS engines used for speakers.
        seed: Random seed.
        nj: Worker processes.
        mix: Mixing settings.
        conv: Conversation split (``test_conv``) settings.
        num_probe_sentences: Sentences of the ``probe`` split, each spoken by every test
            speaker (0: no probe split).
    """

    out_dir: str = "data"
    wav_dir: str = "data/wav"
    cache_dir: Optional[str] = None
    num_train: int = 600
    num_dev: int = 100
    num_test: int = 100
    min_spk: int = 1
    max_spk: int = 3
    spk_weights: Optional[Sequence[float]] = None
    split_fractions: Tuple[float, float, float] = (0.7, 0.15, 0.15)
    utts_per_spk: int = 10
    min_words: int = 4
    max_words: int = 16
    bible_range: str = DEFAULT_BIBLE_RANGE
    engines: Tuple[str, ...] = ENGINES
    seed: int = 0
    nj: int = 2
    mix: MixConfig = field(default_factory=MixConfig)
    conv: ConvConfig = field(default_factory=ConvConfig)
    num_probe_sentences: int = 0

    @property
    def num_mixtures(self) -> Dict[str, int]:
        """``{split: number of mixtures}``."""
        return {"train": self.num_train, "dev": self.num_dev, "test": self.num_test}

    def spk_distribution(self) -> Tuple[List[int], np.ndarray]:
        """``(Ks, probabilities)`` for the number of speakers per mixture."""
        ks = list(range(self.min_spk, self.max_spk + 1))
        if self.spk_weights is None:
            weights = np.ones(len(ks))
        else:
            weights = np.asarray(self.spk_weights, dtype=float)
        return ks, weights / weights.sum()

    def validate(self) -> None:
        """Raise ValueError naming the first bad setting."""
        if not 1 <= self.min_spk <= self.max_spk <= MAX_SPK:
            raise ValueError(
                f"need 1 <= min_spk <= max_spk <= {MAX_SPK}, "
                f"got min_spk={self.min_spk} max_spk={self.max_spk}"
            )
        if self.spk_weights is not None:
            n = self.max_spk - self.min_spk + 1
            w = list(self.spk_weights)
            if len(w) != n or any(x < 0 for x in w) or sum(w) <= 0:
                raise ValueError(
                    f"spk_weights needs {n} non-negative weights (K={self.min_spk}.."
                    f"{self.max_spk}) with a positive sum, got {w}"
                )
        for split, n in self.num_mixtures.items():
            if n < 0:
                raise ValueError(f"num_{split} must be >= 0, got {n}")
        if self.num_probe_sentences < 0:
            raise ValueError(
                f"num_probe_sentences must be >= 0, got {self.num_probe_sentences}"
            )
        self.conv.validate()
        extra = self.conv.num_test_conv + self.num_probe_sentences
        if sum(self.num_mixtures.values()) + extra == 0:
            raise ValueError(
                "nothing to build: num_train + num_dev + num_test + num_test_conv + "
                "num_probe_sentences must be > 0"
            )
        fr = list(self.split_fractions)
        if len(fr) != 3 or any(x <= 0 for x in fr):
            raise ValueError(f"split_fractions needs 3 positive numbers, got {fr}")
        if self.utts_per_spk < 1:
            raise ValueError(f"utts_per_spk must be >= 1, got {self.utts_per_spk}")
        if self.nj < 1:
            raise ValueError(f"nj must be >= 1, got {self.nj}")
        if self.mix.fs != 16000:
            raise ValueError(f"the contract fixes 16 kHz audio, got fs={self.mix.fs}")
        self.mix.validate()


@dataclass
class MixtureSpec:
    """What one mixture is made of (drawn in the main process, realised by a worker)."""

    split: str
    index: int
    utt: str
    speakers: List[str]
    texts: List[str]
    cache_files: List[str]
    mix_seed: List[int]


@dataclass
class CorpusSummary:
    """Statistics of a built corpus, printed by the CLI."""

    mixtures: Dict[str, int]
    speakers: Dict[str, int]
    speakers_used: Dict[str, int]
    num_spk_hist: Dict[str, Dict[int, int]]
    hours: Dict[str, float]
    inventory_size: int
    tts_synthesised: int
    tts_cached: int
    wall_time: float
    overlap: Dict[str, List[float]] = field(default_factory=dict)

    def format(self) -> str:
        """Human-readable multi-line summary."""
        lines = [f"speaker inventory: {self.inventory_size} speakers"]
        for split in self.mixtures:
            hist = " ".join(f"K={k}:{n}" for k, n in sorted(self.num_spk_hist[split].items()))
            lines.append(
                f"{split:5s}: {self.mixtures[split]:6d} mixtures, {self.speakers[split]:4d} "
                f"speakers ({self.speakers_used[split]} used), "
                f"{self.hours[split]:7.3f} h, {hist}"
            )
        for split, shares in self.overlap.items():
            if shares:
                lines.append(
                    f"{split}: overlap share of speech (utt2overlap) mean "
                    f"{np.mean(shares):.3f}, min {min(shares):.3f}, max {max(shares):.3f}"
                )
        total_h = sum(self.hours.values())
        lines.append(
            f"total: {sum(self.mixtures.values())} mixtures, {total_h:.3f} h; TTS "
            f"{self.tts_synthesised} synthesised + {self.tts_cached} cached; "
            f"wall time {self.wall_time:.1f} s"
        )
        return "\n".join(lines)


def split_speakers(
    speakers: Sequence[Speaker],
    fractions: Sequence[float],
    seed: int,
    min_voices: int,
) -> Dict[str, List[Speaker]]:
    """Speaker-disjoint split over base voices (no person in two splits).

    Args:
        speakers: Inventory.
        fractions: Share of base voices for train, dev, test.
        seed: Random seed.
        min_voices: Every split gets at least this many base voices (K_max).

    Returns:
        ``{split: speakers sorted by id}``.

    Raises:
        SimulateError: too few base voices for ``min_voices`` in every split.
    """
    groups: Dict[str, List[Speaker]] = defaultdict(list)
    for spk in speakers:
        groups[spk.base_voice].append(spk)
    names = sorted(groups)
    if len(names) < 3 * min_voices:
        raise SimulateError(
            f"{len(names)} base voices cannot give each of train/dev/test {min_voices} "
            f"(max_spk) voices; use fewer speakers per mixture or more engines"
        )
    order = np.random.default_rng([seed, 7]).permutation(len(names))
    frac = np.asarray(fractions, dtype=float) / float(np.sum(fractions))
    n_dev = max(min_voices, int(round(frac[1] * len(names))))
    n_test = max(min_voices, int(round(frac[2] * len(names))))
    n_train = len(names) - n_dev - n_test
    if n_train < min_voices:
        raise SimulateError(
            f"split_fractions {list(fractions)} leave train {n_train} base voices, "
            f"fewer than max_spk={min_voices}"
        )
    bounds = {
        "train": (0, n_train),
        "dev": (n_train, n_train + n_dev),
        "test": (n_train + n_dev, len(names)),
    }
    out = {}
    for split, (lo, hi) in bounds.items():
        chosen = [names[j] for j in order[lo:hi]]
        out[split] = sorted((s for g in chosen for s in groups[g]), key=lambda s: s.spk_id)
    return out


def assign_sentences(
    split_spk: Dict[str, List[Speaker]], sentences: Sequence[str], utts_per_spk: int, seed: int
) -> Dict[str, List[str]]:
    """Give every speaker its own ``utts_per_spk`` sentences (disjoint over speakers).

    Raises:
        SimulateError: not enough sentences.
    """
    all_spk = [s.spk_id for split in SPLITS for s in split_spk[split]]
    need = len(all_spk) * utts_per_spk
    if need > len(sentences):
        raise SimulateError(
            f"{len(all_spk)} speakers x {utts_per_spk} utts_per_spk needs {need} sentences "
            f"but only {len(sentences)} are available; lower utts_per_spk or widen "
            f"bible_range/min_words/max_words"
        )
    order = np.random.default_rng([seed, 11]).permutation(len(sentences))[:need]
    return {
        spk: [sentences[j] for j in order[n * utts_per_spk : (n + 1) * utts_per_spk]]
        for n, spk in enumerate(all_spk)
    }


def spare_sentences(
    split_spk: Dict[str, List[Speaker]], sentences: Sequence[str], utts_per_spk: int, seed: int
) -> List[str]:
    """The sentences that :func:`assign_sentences` gives to no speaker, in its shuffled order.

    Conversations and the probe draw from them, so their content is in no mixture.
    """
    need = sum(len(split_spk[split]) for split in SPLITS) * utts_per_spk
    order = np.random.default_rng([seed, 11]).permutation(len(sentences))[need:]
    return [sentences[j] for j in order]


def tts_cache_file(cache_dir: Path, spk_id: str, text: str, fs: int = 16000) -> Path:
    """Cache location of the synthesis of ``text`` by ``spk_id``."""
    key = hashlib.sha1(f"{TTS_CACHE_VERSION}|{fs}|{spk_id}|{text}".encode()).hexdigest()[:20]
    return cache_dir / spk_id / f"{key}.wav"


def draw_mixtures(
    split: str,
    num: int,
    speakers: Sequence[Speaker],
    pools: Dict[str, List[str]],
    config: CorpusConfig,
    cache_dir: Path,
) -> List[MixtureSpec]:
    """Draw K, speakers (distinct base voices) and sentences for each mixture of a split."""
    ks, probs = config.spk_distribution()
    split_idx = SPLITS.index(split)
    specs = []
    for i in range(num):
        rng = np.random.default_rng([config.seed, split_idx, i])
        k = int(ks[rng.choice(len(ks), p=probs)])
        chosen: List[Speaker] = []
        voices = set()
        for j in rng.permutation(len(speakers)):
            if speakers[j].base_voice not in voices:
                chosen.append(speakers[j])
                voices.add(speakers[j].base_voice)
                if len(chosen) == k:
                    break
        texts = [pools[s.spk_id][int(rng.integers(config.utts_per_spk))] for s in chosen]
        specs.append(
            MixtureSpec(
                split=split,
                index=i,
                utt=f"{split}_mix{i:06d}",
                speakers=[s.spk_id for s in chosen],
                texts=texts,
                cache_files=[
                    str(tts_cache_file(cache_dir, s.spk_id, t, config.mix.fs))
                    for s, t in zip(chosen, texts)
                ],
                mix_seed=[config.seed, split_idx, i, 1],
            )
        )
    return specs


def write_wav(path: PathLike, data: np.ndarray, fs: int = 16000) -> None:
    """Atomically write int16 ``data`` as a mono 16-bit PCM WAV.

    Uses the stdlib ``wave`` writer: libsndfile (soundfile) fsyncs every file it closes,
    which dominates the run time when thousands of small files are written.
    """
    if data.dtype != np.int16 or data.ndim != 1:
        raise ValueError(f"{path}: expected 1-D int16 samples, got {data.dtype} {data.shape}")
    with atomic_path(path) as tmp:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(fs)
            w.writeframes(data.astype("<i2", copy=False).tobytes())


def _synth_job(job: Tuple[str, str, str, int]) -> str:
    spk_id, text, cache_file, fs = job
    wav = synthesize(Speaker.from_id(spk_id), text, fs=fs)
    wav = wav / max(float(np.abs(wav).max()), 1.0)
    write_wav(cache_file, np.rint(wav * 32767.0).astype(np.int16), fs)
    return cache_file


def wav_paths(wav_dir: Path, split: str, utt: str, k: int) -> Dict[str, Path]:
    """Absolute paths of the mixture, its K sources and its noise."""
    base = wav_dir / split
    out = {"mix": base / "mix" / f"{utt}.wav", "noise": base / "noise" / f"{utt}.wav"}
    for n in range(1, k + 1):
        out[f"s{n}"] = base / f"s{n}" / f"{utt}.wav"
    return out


def _mix_job(args: Tuple[MixtureSpec, MixConfig, str]) -> Dict[str, object]:
    spec, mix_config, wav_dir = args
    fs = mix_config.fs
    sources = [load_audio(f, fs=fs, allow_silent=False) for f in spec.cache_files]
    mixture = mix_sources(sources, np.random.default_rng(spec.mix_seed), mix_config)
    paths = wav_paths(Path(wav_dir), spec.split, spec.utt, len(sources))
    write_wav(paths["mix"], mixture.mix, fs)
    write_wav(paths["noise"], mixture.noise, fs)
    for n in range(len(sources)):
        write_wav(paths[f"s{n + 1}"], mixture.sources[n], fs)
    for n, segs in enumerate(mixture.segments):
        if not segs:
            raise SimulateError(f"{spec.utt}: source {n + 1} has no active segment")
    return {
        "utt": spec.utt,
        "num_samples": int(mixture.mix.size),
        "segments": mixture.segments,
        "paths": {key: str(p) for key, p in paths.items()},
    }


def _load_tts(cache_dir: str, spk_id: str, text: str, fs: int) -> Tuple[np.ndarray, bool]:
    """The synthesis of ``text`` by ``spk_id`` from the cache (synthesised first if missing).

    Returns:
        ``(float signal, True if it was synthesised now)``.
    """
    cache_file = tts_cache_file(Path(cache_dir), spk_id, text, fs)
    fresh = not cache_file.is_file()
    if fresh:
        _synth_job((spk_id, text, str(cache_file), fs))
    return load_audio(cache_file, fs=fs, allow_silent=False), fresh


def _conv_job(args: Tuple[object, list, ConvConfig, MixConfig, str, str]) -> Dict[str, object]:
    spec, sentences, conv_config, mix_config, wav_dir, cache_dir = args
    fs = mix_config.fs
    counts = Counter()

    def load(spk_id: str, text: str) -> np.ndarray:
        wav, fresh = _load_tts(cache_dir, spk_id, text, fs)
        counts["synthesised" if fresh else "cached"] += 1
        return wav

    try:
        conv = lay_out_conversation(spec, sentences, load, conv_config, mix_config)
    except ValueError as e:
        raise SimulateError(str(e)) from e
    paths = wav_paths(Path(wav_dir), CONV_SPLIT, spec.utt, len(conv.speakers))
    write_wav(paths["mix"], conv.mix, fs)
    write_wav(paths["noise"], conv.noise, fs)
    for n in range(len(conv.speakers)):
        write_wav(paths[f"s{n + 1}"], conv.sources[n], fs)
    for n, segs in enumerate(conv.segments):
        if not segs:
            raise SimulateError(f"{spec.utt}: source {n + 1} has no active segment")
    return {
        "utt": spec.utt,
        "num_samples": int(conv.mix.size),
        "segments": conv.segments,
        "paths": {key: str(p) for key, p in paths.items()},
        "speakers": conv.speakers,
        "texts": conv.texts,
        "overlap_share": conv.overlap_share,
        "tts": dict(counts),
    }


def _probe_job(args: Tuple[MixtureSpec, MixConfig, str]) -> Dict[str, object]:
    spec, mix_config, wav_dir = args
    fs = mix_config.fs
    wav = load_audio(spec.cache_files[0], fs=fs, allow_silent=False)
    source = probe_signal(wav, mix_config)
    noise = np.zeros_like(source)
    paths = wav_paths(Path(wav_dir), spec.split, spec.utt, 1)
    write_wav(paths["mix"], source, fs)
    write_wav(paths["s1"], source, fs)
    write_wav(paths["noise"], noise, fs)
    segments = [
        activity_segments(
            source, fs, mix_config.activity_threshold_db, mix_config.activity_frame_ms,
            mix_config.min_silence,
        )
    ]
    if not segments[0]:
        raise SimulateError(f"{spec.utt}: probe utterance has no active segment")
    return {
        "utt": spec.utt,
        "num_samples": int(source.size),
        "segments": segments,
        "paths": {key: str(p) for key, p in paths.items()},
    }


def draw_probe(
    speakers: Sequence[Speaker], probe_texts: Sequence[str], cache_dir: Path, fs: int
) -> List[MixtureSpec]:
    """Every probe sentence by every speaker: utterance ``j * len(speakers) + s``."""
    specs = []
    for j, text in enumerate(probe_texts):
        for s, spk in enumerate(speakers):
            i = j * len(speakers) + s
            specs.append(
                MixtureSpec(
                    split=PROBE_SPLIT,
                    index=i,
                    utt=f"{PROBE_SPLIT}_mix{i:06d}",
                    speakers=[spk.spk_id],
                    texts=[text],
                    cache_files=[str(tts_cache_file(cache_dir, spk.spk_id, text, fs))],
                    mix_seed=[],
                )
            )
    return specs


def check_writable(directory: Path) -> None:
    """Create ``directory`` if needed and check that files can be created in it.

    Raises:
        SimulateError: naming the directory, before anything is written.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".write_test.", dir=directory)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise SimulateError(
            f"output directory {directory} is not writable ({e.strerror or e}); "
            f"nothing was written"
        ) from e


def format_rttm(
    utt: str, segments: Sequence[Sequence[Tuple[int, int]]], speakers: Sequence[str], fs: int
) -> List[str]:
    """Standard RTTM lines (seconds), grouped by source then time.

    ``SPEAKER <utt> 1 <start_s> <dur_s> <NA> <NA> <spkid> <NA> <NA>`` with
    :func:`espnet_echo.data.rttm.format_rttm_line` (exact to the sample), so that
    ``rint(start_s * fs)`` and ``rint((start_s + dur_s) * fs)`` give back the sample
    range written to ``espnet_rttm``.

    Args:
        utt: Utterance id.
        segments: Per source, ``[(start, end), ...]`` sample ranges, ``end`` exclusive.
        speakers: Speaker id of each source.
        fs: Sample rate.
    """
    lines = []
    for spk, segs in zip(speakers, segments):
        for start, end in segs:
            lines.append(format_rttm_line(utt, start / fs, (end - start) / fs, spk))
    return lines


def format_espnet_rttm(
    utt: str,
    segments: Sequence[Sequence[Tuple[int, int]]],
    speakers: Sequence[str],
    num_samples: int,
) -> List[str]:
    """ESPnet sample-level RTTM lines for :class:`espnet2.fileio.rttm.RttmReader`.

    ``SPEAKER <utt> 1 <start> <end> <NA> <NA> <spkid> <NA>`` with ``end`` the boundary
    (``start + duration``, as ESPnet's ``convert_rttm.py`` writes it; the reader labels
    ``start..end`` inclusive), grouped by source so that the reader's speaker columns
    follow source order, then ``END <utt> <NA> <NA> <num_samples> <NA> <NA> <NA> <NA>``
    (:func:`espnet_echo.data.rttm.format_espnet_rttm_lines`).

    Args:
        utt: Utterance id.
        segments: Per source, ``[(start, end), ...]`` sample ranges, ``end`` exclusive.
        speakers: Speaker id of each source.
        num_samples: Length of the mixture.
    """
    events = [
        (spk, start, end) for spk, segs in zip(speakers, segments) for start, end in segs
    ]
    return format_espnet_rttm_lines(utt, events, num_samples)


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    with atomic_open(path) as f:
        for line in lines:
            f.write(line + "\n")


def write_split(
    split_dir: Path,
    specs: Sequence[MixtureSpec],
    results: Dict[str, Dict[str, object]],
    max_spk: int,
    fs: int,
) -> None:
    """Write every contract file of one split (each atomically), drop stale spk/text files."""
    wav_scp: Dict[str, str] = {}
    noise_scp: Dict[str, str] = {}
    utt2spk: Dict[str, str] = {}
    utt2spks: Dict[str, str] = {}
    utt2num_spk: Dict[str, int] = {}
    utt2num_samples: Dict[str, int] = {}
    spk_scp: List[Dict[str, str]] = [{} for _ in range(max_spk)]
    text_spk: List[Dict[str, str]] = [{} for _ in range(max_spk)]
    rttm, espnet_rttm = [], []
    for spec in sorted(specs, key=lambda s: s.utt):
        res = results[spec.utt]
        paths = res["paths"]
        k = len(spec.speakers)
        wav_scp[spec.utt] = paths["mix"]
        noise_scp[spec.utt] = paths["noise"]
        utt2spk[spec.utt] = spec.utt
        utt2spks[spec.utt] = " ".join(spec.speakers)
        utt2num_spk[spec.utt] = k
        utt2num_samples[spec.utt] = res["num_samples"]
        for n in range(k):
            spk_scp[n][spec.utt] = paths[f"s{n + 1}"]
            text_spk[n][spec.utt] = spec.texts[n]
        rttm += format_rttm(spec.utt, res["segments"], spec.speakers, fs)
        espnet_rttm += format_espnet_rttm(
            spec.utt, res["segments"], spec.speakers, res["num_samples"]
        )
    split_dir.mkdir(parents=True, exist_ok=True)
    write_kaldi_map(split_dir / "wav.scp", wav_scp)
    for n in range(max_spk):
        write_kaldi_map(split_dir / f"spk{n + 1}.scp", spk_scp[n])
        write_kaldi_map(split_dir / f"text_spk{n + 1}", text_spk[n])
    write_kaldi_map(split_dir / "noise.scp", noise_scp)
    write_kaldi_map(split_dir / "utt2spk", utt2spk)
    write_kaldi_map(split_dir / "spk2utt", utt2spk)
    write_kaldi_map(split_dir / "utt2spks", utt2spks)
    write_kaldi_map(split_dir / "utt2num_spk", utt2num_spk)
    write_kaldi_map(split_dir / "utt2num_samples", utt2num_samples)
    _write_lines(split_dir / "rttm", rttm)
    _write_lines(split_dir / "espnet_rttm", espnet_rttm)
    # A previous run with a larger max_spk leaves spk{n}.scp / text_spk{n} for n > max_spk.
    for path in split_dir.iterdir():
        m = re.fullmatch(r"(?:spk(\d+)\.scp|text_spk(\d+))", path.name)
        if m and int(m.group(1) or m.group(2)) > max_spk:
            path.unlink()


def _map(pool, func, jobs: list, chunksize: int = 4) -> list:
    if pool is None:
        return [func(job) for job in jobs]
    return pool.map(func, jobs, chunksize=chunksize)


def build_corpus(config: CorpusConfig) -> CorpusSummary:
    """Build the corpus described by ``config`` (see the module docstring).

    Args:
        config: Corpus settings.

    Returns:
        Statistics of what was written.

    Raises:
        ValueError: bad settings.
        MissingBinaryError: ``bible``, ``flite`` or ``espeak-ng`` is missing.
        UnknownVoiceError: the installed engines lack a voice of the inventory.
        SimulateError: unwritable output directory, too few speakers/sentences, TTS failure,
            fewer test base voices than ``conv_max_spk``, too few spare sentences for the
            conversations or the probe.
    """
    start_time = time.time()
    config.validate()
    out_dir, wav_dir = Path(config.out_dir).resolve(), Path(config.wav_dir).resolve()
    if config.cache_dir:
        cache_dir = Path(config.cache_dir).resolve()
    else:
        cache_dir = wav_dir / ".tts_cache"
    for directory in (out_dir, wav_dir, cache_dir):
        check_writable(directory)
    require_binary("bible")
    for engine in config.engines:
        require_binary(ENGINE_BINARIES.get(engine, engine))

    inventory = build_inventory(config.engines)
    for spk in inventory:
        check_speaker(spk)
    split_spk = split_speakers(inventory, config.split_fractions, config.seed, config.max_spk)
    sentences = load_sentences(config.bible_range, config.min_words, config.max_words)
    pools = assign_sentences(split_spk, sentences, config.utts_per_spk, config.seed)
    specs = {
        split: draw_mixtures(split, n, split_spk[split], pools, config, cache_dir)
        for split, n in config.num_mixtures.items()
        if n > 0
    }
    conv_specs: list = []
    spare: List[str] = []
    probe_specs: List[MixtureSpec] = []
    if config.conv.num_test_conv > 0 or config.num_probe_sentences > 0:
        spare = spare_sentences(split_spk, sentences, config.utts_per_spk, config.seed)
        test_spk = split_spk[SPEAKER_SPLIT]
    if config.conv.num_test_conv > 0:
        voices = len({s.base_voice for s in test_spk})
        if voices < config.conv.conv_max_spk:
            raise SimulateError(
                f"the {SPEAKER_SPLIT} split has {voices} base voices, fewer than "
                f"conv_max_spk={config.conv.conv_max_spk}; lower conv_max_spk or give "
                f"{SPEAKER_SPLIT} a larger split_fractions share"
            )
        if not spare:
            raise SimulateError(
                "no spare sentence for the conversations (every sentence is in a speaker's "
                "pool); widen bible_range or lower utts_per_spk"
            )
        conv_specs = draw_conversations(
            config.conv.num_test_conv, test_spk, config.conv, config.seed, config.mix.fs
        )
    if config.num_probe_sentences > 0:
        try:
            probe_texts = draw_probe_sentences(spare, config.num_probe_sentences, config.seed)
        except ValueError as e:
            raise SimulateError(str(e)) from e
        probe_specs = draw_probe(test_spk, probe_texts, cache_dir, config.mix.fs)
    jobs = {}
    for split_specs in list(specs.values()) + [probe_specs]:
        for spec in split_specs:
            for spk_id, text, cache_file in zip(spec.speakers, spec.texts, spec.cache_files):
                jobs[cache_file] = (spk_id, text, cache_file, config.mix.fs)
    todo = [jobs[f] for f in sorted(jobs) if not Path(f).is_file()]
    logger.info(
        "%d speakers, %d sentences; TTS: %d needed, %d to synthesise with nj=%d",
        len(inventory), len(sentences), len(jobs), len(todo), config.nj,
    )
    # Import the resampler (scipy.signal, slow to import) once here so that forked workers
    # inherit it instead of each importing it.
    importlib.import_module("scipy.signal")
    ctx = multiprocessing.get_context("fork")
    with (ctx.Pool(config.nj) if config.nj > 1 else contextlib.nullcontext()) as pool:
        _map(pool, _synth_job, todo)
        all_specs = [spec for split_specs in specs.values() for spec in split_specs]
        logger.info("mixing and writing %d mixtures", len(all_specs))
        results = _map(pool, _mix_job, [(s, config.mix, str(wav_dir)) for s in all_specs])
        if probe_specs:
            logger.info("writing %d probe utterances", len(probe_specs))
            results += _map(
                pool, _probe_job, [(s, config.mix, str(wav_dir)) for s in probe_specs]
            )
        if conv_specs:
            logger.info("laying out %d conversations (TTS on demand)", len(conv_specs))
            conv_jobs = [
                (s, spare, config.conv, config.mix, str(wav_dir), str(cache_dir))
                for s in conv_specs
            ]
            conv_results = _map(pool, _conv_job, conv_jobs, chunksize=1)
    by_utt = {r["utt"]: r for r in results}
    for split, split_specs in specs.items():
        write_split(out_dir / split, split_specs, by_utt, config.max_spk, config.mix.fs)
    synthesised, cached = len(todo), len(jobs) - len(todo)
    overlap: Dict[str, List[float]] = {}
    if probe_specs:
        specs[PROBE_SPLIT] = probe_specs
        write_split(out_dir / PROBE_SPLIT, probe_specs, by_utt, 1, config.mix.fs)
    if conv_specs:
        split_specs = []
        for res in conv_results:
            by_utt[res["utt"]] = res
            synthesised += res["tts"].get("synthesised", 0)
            cached += res["tts"].get("cached", 0)
            split_specs.append(
                MixtureSpec(
                    split=CONV_SPLIT,
                    index=len(split_specs),
                    utt=res["utt"],
                    speakers=list(res["speakers"]),
                    texts=list(res["texts"]),
                    cache_files=[],
                    mix_seed=[],
                )
            )
        specs[CONV_SPLIT] = split_specs
        conv_dir = out_dir / CONV_SPLIT
        write_split(conv_dir, split_specs, by_utt, config.conv.conv_max_spk, config.mix.fs)
        write_kaldi_map(
            conv_dir / "utt2overlap",
            {r["utt"]: f"{r['overlap_share']:.4f}" for r in conv_results},
        )
        overlap[CONV_SPLIT] = [r["overlap_share"] for r in conv_results]

    fs = config.mix.fs
    return CorpusSummary(
        mixtures={s: len(v) for s, v in specs.items()},
        speakers={s: len(split_spk[SPLIT_SPEAKERS.get(s, s)]) for s in specs},
        speakers_used={s: len({p for x in v for p in x.speakers}) for s, v in specs.items()},
        num_spk_hist={s: dict(Counter(len(x.speakers) for x in v)) for s, v in specs.items()},
        hours={
            s: sum(by_utt[x.utt]["num_samples"] for x in v) / fs / 3600.0
            for s, v in specs.items()
        },
        inventory_size=len(inventory),
        tts_synthesised=synthesised,
        tts_cached=cached,
        wall_time=time.time() - start_time,
        overlap=overlap,
    )

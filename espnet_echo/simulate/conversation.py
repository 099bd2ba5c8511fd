# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Long multi-speaker conversations (split ``test_conv``) and the speaker x content probe.

Both splits use only the speakers of the ``test`` split (the speaker/split allocation of the
mixtures) and sentences that no speaker's mixture pool holds (the *spare* KJV sentences, see
:func:`espnet_echo.simulate.corpus.spare_sentences`), and are written in the same data-dir
contract as the mixtures (``docs/CONTRACT.md``).

Turn-taking model of one conversation (recording ``i``)
------------------------------------------------------
Drawn in the main process from ``default_rng([seed, CONV_STREAM, i])``:

* the number of speakers ``K ~ U{conv_min_spk..conv_max_spk}`` and ``K`` speakers of distinct
  base voices (a random permutation of the split's speakers, as for the mixtures);
* the length ``D ~ U(conv_min_sec, conv_max_sec)`` seconds (rounded to a sample);
* the target overlap share ``rho ~ U(conv_overlap_range)``.

Laid out by a worker from ``default_rng([seed, CONV_STREAM, i, 1])``, in this order:

* per-speaker level ``g_k ~ U(gain_range)`` dB (every sentence of speaker k is set to
  ``ref_level + g_k`` dBFS RMS), SNR ``~ U(conv_snr_range)`` dB, noise tilt
  ``~ U(noise_tilt_range)`` and a leading silence ``~ U(conv_pause_range)`` s;
* speaker order: the first ``K`` turns are a random permutation of the speakers (everyone
  speaks early; source order = order of first appearance); after that a Markov chain over
  (speaker, turns since each speaker last spoke): the next speaker is one of the ``K - 1``
  others (no self-transition: a speaker who goes on is the same turn), speaker ``j`` with
  probability proportional to ``1 + q_j``, ``q_j`` the number of turns since ``j`` last
  spoke, so quiet speakers come back (every speaker returns several times in a minute);
* a turn is ``n ~ U{1..conv_max_turn_sentences}`` synthesised sentences, each drawn uniformly
  from the spare sentences (never twice in one recording), separated inside the turn by
  pauses ``~ U(INTRA_TURN_PAUSE_S)``;
* at a change of speaker the overlap controller chooses between a pause and an overlap. With
  ``S`` the speech time (at least one speaker active) and ``O`` the overlapped time (two or
  more) laid out so far, and ``L`` the active time of the next turn's first sentence, the
  overlap that brings the share to ``rho`` is ``v = (rho (S + L) - O) / (1 + rho)``. If
  ``v >= MIN_OVERLAP_S`` the next turn starts ``min(v, cap)`` before the current turn ends,
  ``cap = min(MAX_OVERLAP_S, 0.9 x`` the current turn's last sentence, ``0.9 x`` the next
  sentence, the time since the next speaker last spoke ``- 0.1 s)``; otherwise (or if the
  cap is below ``MIN_OVERLAP_S``) it starts after a pause ``~ U(conv_pause_range)`` s.
  A speaker never overlaps itself;
* the layout stops at the first sentence that would end after ``D``; the recording is
  ``D`` long (the rest is noise only). A speaker who never got a turn (only possible for a
  very short ``D``) is left out of the recording (``K`` counts the speakers who speak).

Activity (RTTM) is measured on each speaker's int16 track exactly as for the mixtures, and
the **overlap share** of a recording, ``(samples with >= 2 speakers active) / (samples with
>= 1 active)`` on those RTTM turns, is written to ``utt2overlap``. The controller works on
the activity of each sentence, so the measured share follows ``rho`` up to the last turn
change (about ``+-0.03`` for 60 s and longer, ``+-0.05`` for 20-30 s recordings) and falls
short of targets the caps do not allow (hence ``conv_overlap_range`` is limited to 0.5).

Probe split (``probe``)
-----------------------
``num_probe_sentences`` spare sentences (drawn from ``default_rng([seed, PROBE_STREAM])``),
each spoken by every speaker of the ``test`` split: single-speaker, noise-free (``noise.scp``
is all zeros), level ``ref_level`` dBFS RMS. Speaker identity (``utt2spks``) and content
(``text_spk1``) are fully crossed; utterance ``j * num_speakers + s`` is sentence ``j`` by
speaker ``s`` (speakers sorted by id).
"""

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from espnet_echo.data.contract import MAX_SPK
from espnet_echo.simulate.mixture import (
    MixConfig,
    _quantize,
    activity_segments,
    add_noise_and_quantize,
)

#: Random-stream tags (second entry of the seed list) of the two splits; the mixtures use
#: 0..2 (their split index), the speaker split 7 and the sentence pools 11.
CONV_STREAM = 100
PROBE_STREAM = 101

#: Data-dir names of the two splits.
CONV_SPLIT = "test_conv"
PROBE_SPLIT = "probe"

#: The mixtures split whose speakers the conversation and probe splits use.
SPEAKER_SPLIT = "test"

#: Pause between two sentences of one turn (seconds).
INTRA_TURN_PAUSE_S = (0.05, 0.3)
#: Shortest overlap at a change of speaker (seconds); a shorter one becomes a pause.
MIN_OVERLAP_S = 0.25
#: Longest overlap at a change of speaker (seconds).
MAX_OVERLAP_S = 4.0
#: A speaker starts a new turn at least this long after its own previous speech (seconds).
SELF_GAP_S = 0.1


@dataclass
class ConvConfig:
    """Conversation split settings (flags ``--num_test_conv`` and ``--conv_*``).

    Attributes:
        num_test_conv: Recordings in ``test_conv`` (0: no conversation split).
        conv_min_sec: Shortest recording (seconds).
        conv_max_sec: Longest recording (seconds).
        conv_min_spk: Fewest speakers in a recording.
        conv_max_spk: Most speakers in a recording (<= ``MAX_SPK`` and <= the base voices
            of the test split).
        conv_overlap_range: Range of the target share of speech time that is overlapped
            (0..0.5), drawn per recording; the measured share is in ``utt2overlap``.
        conv_pause_range: Pause at a change of speaker without overlap (seconds).
        conv_snr_range: Speech-to-noise ratio (dB) of the additive noise.
        conv_max_turn_sentences: Most sentences in one turn.
    """

    num_test_conv: int = 0
    conv_min_sec: float = 60.0
    conv_max_sec: float = 150.0
    conv_min_spk: int = 2
    conv_max_spk: int = 5
    conv_overlap_range: Tuple[float, float] = (0.05, 0.2)
    conv_pause_range: Tuple[float, float] = (0.1, 1.0)
    conv_snr_range: Tuple[float, float] = (10.0, 30.0)
    conv_max_turn_sentences: int = 3

    def validate(self) -> None:
        """Raise ValueError naming the first bad setting."""
        if self.num_test_conv < 0:
            raise ValueError(f"num_test_conv must be >= 0, got {self.num_test_conv}")
        if not 10.0 <= self.conv_min_sec <= self.conv_max_sec <= 3600.0:
            raise ValueError(
                "need 10 <= conv_min_sec <= conv_max_sec <= 3600 (seconds), got "
                f"conv_min_sec={self.conv_min_sec} conv_max_sec={self.conv_max_sec}"
            )
        if not 1 <= self.conv_min_spk <= self.conv_max_spk <= MAX_SPK:
            raise ValueError(
                f"need 1 <= conv_min_spk <= conv_max_spk <= {MAX_SPK} (MAX_SPK), got "
                f"conv_min_spk={self.conv_min_spk} conv_max_spk={self.conv_max_spk}"
            )
        ranges = {
            "conv_overlap_range": (self.conv_overlap_range, 0.0, 0.5),
            "conv_pause_range": (self.conv_pause_range, 0.0, 10.0),
            "conv_snr_range": (self.conv_snr_range, -30.0, 200.0),
        }
        for name, (value, lo, hi) in ranges.items():
            if len(value) != 2 or not lo <= value[0] <= value[1] <= hi:
                raise ValueError(
                    f"{name} must be two numbers lo <= hi within [{lo:g}, {hi:g}], got "
                    f"{list(value)}"
                )
        if self.conv_max_turn_sentences < 1:
            raise ValueError(
                f"conv_max_turn_sentences must be >= 1, got {self.conv_max_turn_sentences}"
            )


@dataclass
class ConvSpec:
    """What the main process draws for one conversation (realised by a worker).

    Attributes:
        utt: Utterance id.
        speakers: The K speaker ids (not yet in source order).
        num_samples: Length ``D`` in samples.
        overlap_target: Target overlap share ``rho``.
        seed: Seed list of the worker's generator.
    """

    utt: str
    speakers: List[str]
    num_samples: int
    overlap_target: float
    seed: List[int]


@dataclass
class Conversation:
    """A laid-out conversation, all signals of one length ``T``.

    Attributes:
        mix: int16 ``(T,)``; equals ``sources.sum(0) + noise`` exactly (in int32).
        sources: int16 ``(K, T)``; speaker k's full track.
        noise: int16 ``(T,)``.
        speakers: Speaker id of each source (order of first appearance).
        texts: Each speaker's sentences in time order, joined by spaces.
        segments: Per source, active ``[(start, end), ...]`` sample ranges (end exclusive).
        turns: ``(source index, first sample, end sample)`` of every turn, in time order.
        overlap_share: Measured share of speech time with two or more speakers active.
        params: Drawn parameters (target, gains_db, snr_db, noise_tilt, scale).
    """

    mix: np.ndarray
    sources: np.ndarray
    noise: np.ndarray
    speakers: List[str]
    texts: List[str]
    segments: List[List[Tuple[int, int]]]
    turns: List[Tuple[int, int, int]]
    overlap_share: float
    params: Dict[str, object] = field(default_factory=dict)


def pick_speakers(rng: np.random.Generator, speakers: Sequence, k: int) -> List:
    """``k`` speakers of distinct base voices, in the order a permutation visits them."""
    chosen, voices = [], set()
    for j in rng.permutation(len(speakers)):
        if speakers[j].base_voice not in voices:
            chosen.append(speakers[j])
            voices.add(speakers[j].base_voice)
            if len(chosen) == k:
                break
    return chosen


def draw_conversations(
    num: int, speakers: Sequence, config: ConvConfig, seed: int, fs: int = 16000
) -> List[ConvSpec]:
    """Draw K, speakers, length and target overlap of each conversation.

    Args:
        num: Number of recordings.
        speakers: The split's :class:`~espnet_echo.simulate.voices.Speaker` objects.
        config: Conversation settings.
        seed: Corpus seed.
        fs: Sample rate (Hz).

    Returns:
        One :class:`ConvSpec` per recording, utt ids ``test_conv_mix<6 digits>``.
    """
    specs = []
    for i in range(num):
        rng = np.random.default_rng([seed, CONV_STREAM, i])
        k = int(rng.integers(config.conv_min_spk, config.conv_max_spk + 1))
        chosen = pick_speakers(rng, speakers, k)
        seconds = float(rng.uniform(config.conv_min_sec, config.conv_max_sec))
        rho = float(rng.uniform(*config.conv_overlap_range))
        specs.append(
            ConvSpec(
                utt=f"{CONV_SPLIT}_mix{i:06d}",
                speakers=[s.spk_id for s in chosen],
                num_samples=int(round(seconds * fs)),
                overlap_target=rho,
                seed=[seed, CONV_STREAM, i, 1],
            )
        )
    return specs


def overlap_share(segments: Sequence[Sequence[Tuple[int, int]]], num_samples: int) -> float:
    """Share of speech samples (>= 1 speaker active) where >= 2 speakers are active.

    Args:
        segments: Per speaker, ``[(start, end), ...]`` sample ranges (end exclusive).
        num_samples: Length of the recording.

    Returns:
        The share in [0, 1] (0 when nobody speaks).
    """
    count = np.zeros(num_samples, dtype=np.int16)
    for segs in segments:
        for start, end in segs:
            count[start:end] += 1
    speech = int(np.count_nonzero(count))
    return float(np.count_nonzero(count >= 2)) / speech if speech else 0.0


class _Timeline:
    """Number of active speakers per sample, with running speech/overlap totals."""

    def __init__(self, num_samples: int):
        self.count = np.zeros(num_samples, dtype=np.int8)
        self.speech = 0
        self.overlap = 0

    def add(self, segments: Sequence[Tuple[int, int]]) -> None:
        for start, end in segments:
            c = self.count[start:end]
            self.speech += int(np.count_nonzero(c == 0))
            self.overlap += int(np.count_nonzero(c == 1))
            c += 1


def lay_out_conversation(
    spec: ConvSpec,
    sentences: Sequence[str],
    load: Callable[[str, str], np.ndarray],
    config: ConvConfig,
    mix_config: Optional[MixConfig] = None,
) -> Conversation:
    """Lay out, level, add noise to and quantise one conversation (see module docstring).

    Args:
        spec: What the main process drew.
        sentences: The spare sentences to draw from.
        load: ``load(spk_id, text)`` gives the float signal (in [-1, 1], at
            ``mix_config.fs``) of the sentence spoken by the speaker (e.g. from the TTS cache).
        config: Conversation settings.
        mix_config: Level, noise-colour and activity settings (its ``gain_range``,
            ``noise_tilt_range``, ``ref_level``, ``peak`` and ``activity_*``/``min_silence``).

    Returns:
        The :class:`Conversation`; ``mix.astype(int32) == sources.sum(0) + noise`` exactly.

    Raises:
        ValueError: no sentence fits in the recording, or too few distinct sentences.
    """
    mc = mix_config or MixConfig()
    fs = mc.fs
    rng = np.random.default_rng(spec.seed)
    k_all = len(spec.speakers)
    total = spec.num_samples
    gains_db = rng.uniform(*mc.gain_range, size=k_all)
    snr_db = float(rng.uniform(*config.conv_snr_range))
    tilt = float(rng.uniform(*mc.noise_tilt_range))
    lead = int(round(rng.uniform(*config.conv_pause_range) * fs))
    if len(sentences) < 1:
        raise ValueError("no spare sentence to draw conversation turns from")

    ref = 10.0 ** (mc.ref_level / 20.0)
    timeline = _Timeline(total)
    placed = np.zeros((k_all, total))
    covered = np.zeros(total, dtype=bool)
    texts: List[List[str]] = [[] for _ in range(k_all)]
    own_end = [-(10**12)] * k_all  # end of each speaker's last sentence
    turns: List[Tuple[int, int, int]] = []
    used = set()
    first_round = [int(j) for j in rng.permutation(k_all)]
    cur_spk: Optional[int] = None
    cur_end = lead  # end of the timeline laid out so far
    last_len = 0  # length of the current turn's last sentence
    done = False

    def next_sentence(spk: int) -> Tuple[str, np.ndarray, List[Tuple[int, int]], int]:
        if len(used) >= len(sentences):
            raise ValueError(
                f"{spec.utt}: all {len(sentences)} spare sentences used; widen bible_range "
                f"or shorten the conversations"
            )
        while True:
            j = int(rng.integers(len(sentences)))
            if j not in used:
                used.add(j)
                break
        text = sentences[j]
        wav = np.asarray(load(spec.speakers[spk], text), dtype=np.float64)
        rms = float(np.sqrt(np.mean(wav**2)))
        if rms <= 0.0:
            raise ValueError(f"{spec.utt}: silent synthesis of {text!r}")
        wav = wav * (ref / rms) * 10.0 ** (gains_db[spk] / 20.0)
        segs = activity_segments(
            wav, fs, mc.activity_threshold_db, mc.activity_frame_ms, mc.min_silence
        )
        active = sum(e - s for s, e in segs)
        return text, wav, segs, active

    def place(spk: int, text: str, wav: np.ndarray, segs, onset: int) -> None:
        nonlocal cur_end, last_len
        end = onset + wav.size
        placed[spk, onset:end] = wav
        covered[onset:end] = True
        timeline.add([(onset + s, onset + e) for s, e in segs])
        texts[spk].append(text)
        own_end[spk] = end
        cur_end = max(cur_end, end)
        last_len = wav.size

    turn_index = 0
    last_turn = [-1] * k_all  # index of each speaker's last turn
    while not done:
        if turn_index < k_all:
            spk = first_round[turn_index]
        else:
            others = [j for j in range(k_all) if j != cur_spk]
            weights = np.array([1.0 + turn_index - last_turn[j] for j in others])
            spk = others[int(rng.choice(len(others), p=weights / weights.sum()))]
        last_turn[spk] = turn_index
        n_sent = int(rng.integers(1, config.conv_max_turn_sentences + 1))
        for m in range(n_sent):
            text, wav, segs, active = next_sentence(spk)
            if m == 0 and cur_spk is not None:
                rho = spec.overlap_target
                want = (rho * (timeline.speech + active) - timeline.overlap) / (1.0 + rho)
                cap = min(
                    MAX_OVERLAP_S * fs,
                    0.9 * last_len,
                    0.9 * wav.size,
                    cur_end - own_end[spk] - SELF_GAP_S * fs,
                )
                pause = int(round(rng.uniform(*config.conv_pause_range) * fs))
                if want >= MIN_OVERLAP_S * fs and cap >= MIN_OVERLAP_S * fs:
                    onset = cur_end - int(round(min(want, cap)))
                else:
                    onset = cur_end + pause
            elif m == 0:
                onset = cur_end
            else:
                onset = cur_end + int(round(rng.uniform(*INTRA_TURN_PAUSE_S) * fs))
            if onset + wav.size > total:
                done = True
                break
            if m == 0:
                turns.append((spk, onset, onset + wav.size))
            else:
                turns[-1] = (spk, turns[-1][1], onset + wav.size)
            place(spk, text, wav, segs, onset)
        cur_spk = spk
        turn_index += 1
    if not turns:
        raise ValueError(
            f"{spec.utt}: no sentence fits in {total / fs:.1f} s; raise conv_min_sec"
        )

    # Sources in order of first appearance; speakers who never spoke are left out.
    order: List[int] = []
    for spk, _, _ in turns:
        if spk not in order:
            order.append(spk)
    placed = placed[order]
    remap = {old: new for new, old in enumerate(order)}
    turns = [(remap[s], a, b) for s, a, b in turns]

    q_sources, q_noise, total_int, scale = add_noise_and_quantize(
        placed, covered, snr_db, tilt, mc.peak, rng, fs
    )
    segments = [
        activity_segments(
            q_sources[n], fs, mc.activity_threshold_db, mc.activity_frame_ms, mc.min_silence
        )
        for n in range(len(order))
    ]
    return Conversation(
        mix=total_int.astype(np.int16),
        sources=q_sources,
        noise=q_noise,
        speakers=[spec.speakers[j] for j in order],
        texts=[" ".join(texts[j]) for j in order],
        segments=segments,
        turns=turns,
        overlap_share=overlap_share(segments, total),
        params={
            "overlap_target": spec.overlap_target,
            "gains_db": [float(gains_db[j]) for j in order],
            "snr_db": snr_db,
            "noise_tilt": tilt,
            "scale": float(scale),
        },
    )


def draw_probe_sentences(sentences: Sequence[str], num: int, seed: int) -> List[str]:
    """The ``num`` probe sentences: distinct spare sentences from the probe stream.

    Raises:
        ValueError: fewer than ``num`` spare sentences.
    """
    if num > len(sentences):
        raise ValueError(
            f"num_probe_sentences={num} but only {len(sentences)} spare sentences; widen "
            f"bible_range or lower utts_per_spk"
        )
    order = np.random.default_rng([seed, PROBE_STREAM]).permutation(len(sentences))[:num]
    return [sentences[int(j)] for j in order]


def probe_signal(wav: np.ndarray, mix_config: Optional[MixConfig] = None) -> np.ndarray:
    """int16 probe utterance: ``wav`` at ``ref_level`` dBFS RMS, scaled down to ``peak``."""
    mc = mix_config or MixConfig()
    x = np.asarray(wav, dtype=np.float64)
    rms = float(np.sqrt(np.mean(x**2)))
    if rms <= 0.0:
        raise ValueError("silent probe utterance")
    x = x * (10.0 ** (mc.ref_level / 20.0) / rms)
    biggest = float(np.abs(x).max())
    if biggest > mc.peak:
        x = x * (mc.peak / biggest)
    return _quantize(x)

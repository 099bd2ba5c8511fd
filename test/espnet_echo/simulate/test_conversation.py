# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Conversation (test_conv) and probe splits: turn-taking model, contract files, errors."""

import hashlib
import itertools
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet_echo.data.contract import MAX_SPK
from espnet_echo.data.datadir import load_data_dir
from espnet_echo.data.rttm import read_rttm_segments
from espnet_echo.simulate import corpus as corpus_mod
from espnet_echo.simulate.conversation import (
    CONV_SPLIT,
    PROBE_SPLIT,
    ConvConfig,
    ConvSpec,
    draw_conversations,
    draw_probe_sentences,
    lay_out_conversation,
    overlap_share,
)
from espnet_echo.simulate.corpus import (
    CorpusConfig,
    assign_sentences,
    build_corpus,
    spare_sentences,
    split_speakers,
)
from espnet_echo.simulate.errors import SimulateError
from espnet_echo.simulate.text import load_sentences
from espnet_echo.simulate.voices import build_inventory
from espnet_echo.utils.fileio import read_kaldi_map

BIBLE = "Gen1:1-20:18"  # 617 sentences of 4..16 words: 331 spare after 143 x 2 pools
FS = 16000
# The measured share (RTTM of the int16 tracks) follows the controller's target up to the
# last turn change: documented as about +-0.05 for 20-30 s recordings.
SHARE_TOL = 0.05


def _fake_tts(spk_id: str, text: str) -> np.ndarray:
    """Deterministic 'speech': 0.8-3 s of noise bursts (words) with short word gaps."""
    seed = int(hashlib.sha1(f"{spk_id}|{text}".encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(seed)
    words = []
    for _ in range(int(rng.integers(3, 9))):
        words.append(0.3 * rng.standard_normal(int(rng.integers(2400, 5600))))
        words.append(np.zeros(int(rng.integers(160, 1600))))
    return np.concatenate(words[:-1])


def _spec(k=3, seconds=40.0, rho=0.15, seed=0):
    return ConvSpec(
        utt=f"{CONV_SPLIT}_mix000000",
        speakers=[f"espeak-en-us+m{n + 1}" for n in range(k)],
        num_samples=int(seconds * FS),
        overlap_target=rho,
        seed=[seed, 100, 0, 1],
    )


SENTENCES = [f"SENTENCE NUMBER {i}" for i in range(500)]


@pytest.mark.parametrize("k, seconds, rho", [(2, 25.0, 0.05), (3, 30.0, 0.2), (5, 90.0, 0.12)])
def test_layout_sums_returns_and_overlap(k, seconds, rho):
    conv = lay_out_conversation(_spec(k, seconds, rho), SENTENCES, _fake_tts, ConvConfig())
    total = conv.sources.astype(np.int32).sum(axis=0) + conv.noise.astype(np.int32)
    np.testing.assert_array_equal(total, conv.mix.astype(np.int32))
    assert conv.mix.size == int(seconds * FS) and conv.sources.shape[0] == k
    assert len(conv.speakers) == len(set(conv.speakers)) == k
    # every speaker speaks and comes back; turns alternate speakers
    per_spk = Counter(s for s, _, _ in conv.turns)
    assert set(per_spk) == set(range(k)) and min(per_spk.values()) >= 2
    assert all(a[0] != b[0] for a, b in zip(conv.turns, conv.turns[1:]))
    # source order = order of first appearance; nobody overlaps itself
    firsts = [next(t[1] for t in conv.turns if t[0] == n) for n in range(k)]
    assert firsts == sorted(firsts)
    for n in range(k):
        mine = [(a, b) for s, a, b in conv.turns if s == n]
        assert all(b1 <= a2 for (_, b1), (a2, _) in zip(mine, mine[1:]))
    # each track is silent outside its own turns
    for n in range(k):
        mask = np.zeros(conv.mix.size, dtype=bool)
        for s, a, b in conv.turns:
            if s == n:
                mask[a:b] = True
        assert not conv.sources[n][~mask].any()
    assert conv.overlap_share == pytest.approx(overlap_share(conv.segments, conv.mix.size))
    assert abs(conv.overlap_share - rho) <= SHARE_TOL
    # every text is made of whole sentences, none twice
    said = [s for t in conv.texts for s in t.split(" SENTENCE ")]
    assert len(said) == len(set(said))


def test_layout_is_deterministic():
    a = lay_out_conversation(_spec(), SENTENCES, _fake_tts, ConvConfig())
    b = lay_out_conversation(_spec(), SENTENCES, _fake_tts, ConvConfig())
    c = lay_out_conversation(_spec(seed=1), SENTENCES, _fake_tts, ConvConfig())
    np.testing.assert_array_equal(a.mix, b.mix)
    assert a.texts == b.texts and a.turns == b.turns
    assert a.turns != c.turns


def test_overlap_share_definition():
    segs = [[(0, 100)], [(50, 150)], [(300, 310)]]
    assert overlap_share(segs, 400) == pytest.approx(50 / 160)
    assert overlap_share([[]], 10) == 0.0


def test_draw_conversations_uses_the_given_speakers():
    inv = build_inventory()
    test_spk = split_speakers(inv, (0.7, 0.15, 0.15), 0, 3)["test"]
    cfg = ConvConfig(conv_min_sec=20, conv_max_sec=30, conv_min_spk=2, conv_max_spk=5)
    specs = draw_conversations(200, test_spk, cfg, seed=0)
    ids = {s.spk_id: s for s in test_spk}
    assert Counter(len(s.speakers) for s in specs).keys() == {2, 3, 4, 5}
    for s in specs:
        assert set(s.speakers) <= set(ids)
        assert len({ids[x].base_voice for x in s.speakers}) == len(s.speakers)
        assert 20 * FS <= s.num_samples <= 30 * FS and 0.05 <= s.overlap_target <= 0.2
    assert [s.utt for s in specs[:2]] == ["test_conv_mix000000", "test_conv_mix000001"]


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(num_test_conv=-1), "num_test_conv must be >= 0"),
        (dict(conv_min_sec=5), "10 <= conv_min_sec"),
        (dict(conv_min_sec=100, conv_max_sec=60), "conv_min_sec <= conv_max_sec"),
        (dict(conv_min_spk=3, conv_max_spk=2), "conv_min_spk <= conv_max_spk"),
        (dict(conv_max_spk=MAX_SPK + 1), f"conv_max_spk <= {MAX_SPK} \\(MAX_SPK\\)"),
        (dict(conv_overlap_range=(0.1, 0.7)), "conv_overlap_range .*\\[0, 0.5\\]"),
        (dict(conv_overlap_range=(0.2, 0.1)), "conv_overlap_range"),
        (dict(conv_pause_range=(-1.0, 1.0)), "conv_pause_range"),
        (dict(conv_snr_range=(30.0, 10.0)), "conv_snr_range"),
        (dict(conv_max_turn_sentences=0), "conv_max_turn_sentences must be >= 1"),
    ],
)
def test_bad_conv_options(kw, match):
    with pytest.raises(ValueError, match=match):
        ConvConfig(**kw).validate()
    with pytest.raises(ValueError, match=match):
        CorpusConfig(conv=ConvConfig(**kw)).validate()


def test_bad_corpus_options():
    with pytest.raises(ValueError, match="num_probe_sentences must be >= 0"):
        CorpusConfig(num_probe_sentences=-1).validate()
    with pytest.raises(ValueError, match="nothing to build"):
        CorpusConfig(num_train=0, num_dev=0, num_test=0).validate()
    CorpusConfig(num_train=0, num_dev=0, num_test=0, num_probe_sentences=1).validate()
    CorpusConfig(max_spk=MAX_SPK).validate()  # 6 speakers per mixture are legal now


def test_probe_sentences_and_spare_pool():
    inv = build_inventory()
    split_spk = split_speakers(inv, (0.7, 0.15, 0.15), 0, 3)
    sents = [f"SENTENCE {i}" for i in range(len(inv) * 2 + 30)]
    pools = assign_sentences(split_spk, sents, 2, 0)
    spare = spare_sentences(split_spk, sents, 2, 0)
    assert len(spare) == 30
    assert not set(spare) & {t for p in pools.values() for t in p}
    probe = draw_probe_sentences(spare, 12, 0)
    assert len(set(probe)) == 12 and set(probe) <= set(spare)
    assert probe == draw_probe_sentences(spare, 12, 0)
    with pytest.raises(ValueError, match="num_probe_sentences=31 but only 30 spare"):
        draw_probe_sentences(spare, 31, 0)


# ---------------------------------------------------------------- corpus (real TTS)


def _config(root: Path, cache: Path, **kw) -> CorpusConfig:
    base = dict(
        out_dir=str(root / "data"),
        wav_dir=str(root / "wav"),
        cache_dir=str(cache),
        num_train=0,
        num_dev=0,
        num_test=0,
        utts_per_spk=2,
        bible_range=BIBLE,
        seed=0,
        nj=2,
        conv=ConvConfig(
            num_test_conv=2, conv_min_sec=20, conv_max_sec=30, conv_min_spk=2, conv_max_spk=3
        ),
        num_probe_sentences=2,
    )
    base.update(kw)
    return CorpusConfig(**base)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("conv")
    cache = tmp_path_factory.mktemp("conv_cache")
    cfg = _config(root, cache)
    summary = build_corpus(cfg)
    return cfg, summary, root, cache


def _int16(path):
    wav, fs = soundfile.read(path, dtype="int16")
    assert fs == FS and wav.ndim == 1
    return wav.astype(np.int32)


def _check_sums(d: Path):
    ddir = load_data_dir(d)
    wav, noise = read_kaldi_map(d / "wav.scp"), read_kaldi_map(d / "noise.scp")
    k = {u: int(v) for u, v in read_kaldi_map(d / "utt2num_spk").items()}
    for u in wav:
        total = _int16(noise[u])
        for n in range(1, k[u] + 1):
            total += _int16(read_kaldi_map(d / f"spk{n}.scp")[u])
        np.testing.assert_array_equal(total, _int16(wav[u]))
    return ddir, k


def test_conversation_split_is_a_valid_data_dir(built):
    cfg, summary, root, _ = built
    d = root / "data" / CONV_SPLIT
    ddir, k = _check_sums(d)
    assert list(k) == ["test_conv_mix000000", "test_conv_mix000001"]
    assert all(2 <= v <= 3 for v in k.values())
    spks = {u: v.split() for u, v in read_kaldi_map(d / "utt2spks").items()}
    rttm = read_rttm_segments(d / "rttm")
    nsamp = read_kaldi_map(d / "utt2num_samples")
    shares = {u: float(v) for u, v in read_kaldi_map(d / "utt2overlap").items()}
    test_split = split_speakers(build_inventory(), (0.7, 0.15, 0.15), 0, 3)["test"]
    test_spk = {s.spk_id for s in test_split}
    targets = {s.utt: s.overlap_target for s in draw_conversations(2, test_split, cfg.conv, 0)}
    for u, ids in spks.items():
        assert set(ids) <= test_spk  # test conversations use test speakers only
        assert 20 <= int(nsamp[u]) / FS <= 30
        turns = defaultdict(list)
        for seg in rttm[u]:
            turns[seg.spk].append(seg)
        assert set(turns) == set(ids)
        assert max(len(v) for v in turns.values()) >= 2  # speakers come back
        segs = [
            [(round(s.start * FS), round((s.start + s.dur) * FS)) for s in turns[i]]
            for i in ids
        ]
        assert shares[u] == pytest.approx(overlap_share(segs, int(nsamp[u])), abs=1e-3)
        assert abs(shares[u] - targets[u]) <= SHARE_TOL
        for n, spk in enumerate(ids):
            text = read_kaldi_map(d / f"text_spk{n + 1}")[u]
            assert text and text == text.upper()
    assert CONV_SPLIT in summary.overlap and len(summary.overlap[CONV_SPLIT]) == 2
    assert "test_conv: overlap share" in summary.format()


def test_probe_crosses_sentences_and_speakers(built):
    _, summary, root, _ = built
    d = root / "data" / PROBE_SPLIT
    ddir, k = _check_sums(d)
    assert set(k.values()) == {1}
    spks = read_kaldi_map(d / "utt2spks")
    texts = read_kaldi_map(d / "text_spk1")
    test_spk = sorted(
        s.spk_id for s in split_speakers(build_inventory(), (0.7, 0.15, 0.15), 0, 3)["test"]
    )
    pairs = [(spks[u], texts[u]) for u in sorted(spks)]
    sentences = sorted(set(texts.values()))
    assert len(sentences) == 2 and sorted(set(spks.values())) == test_spk
    assert sorted(pairs) == sorted(itertools.product(test_spk, sentences))
    # noise-free: the mixture is the source
    for u in list(spks)[:3]:
        assert not _int16(read_kaldi_map(d / "noise.scp")[u]).any()
    # content is in no speaker's mixture pool
    inv = build_inventory()
    split_spk = split_speakers(inv, (0.7, 0.15, 0.15), 0, 3)
    pools = assign_sentences(split_spk, load_sentences(BIBLE, 4, 16), 2, 0)
    assert not set(sentences) & {t for p in pools.values() for t in p}
    assert summary.mixtures[PROBE_SPLIT] == 2 * len(test_spk)


def test_deterministic_for_seed(built, tmp_path):
    cfg, _, root, cache = built
    build_corpus(_config(tmp_path, cache))
    for split in (CONV_SPLIT, PROBE_SPLIT):
        for p in sorted((root / "data" / split).iterdir()):
            mine = (tmp_path / "data" / split / p.name).read_bytes()
            assert mine == p.read_bytes().replace(str(root).encode(), str(tmp_path).encode())
    for p in (root / "wav" / CONV_SPLIT).rglob("*.wav"):
        assert (tmp_path / "wav" / p.relative_to(root / "wav")).read_bytes() == p.read_bytes()


def test_too_many_conversation_speakers_for_the_test_split(tmp_path):
    # flite alone: 4 base voices -> 1 test voice
    cfg = _config(tmp_path, tmp_path / "cache", engines=("flite",), max_spk=1)
    with pytest.raises(SimulateError, match="test split has 1 base voices.*conv_max_spk=3"):
        build_corpus(cfg)


def test_five_speaker_conversation_passes_the_reader(tmp_path, monkeypatch):
    """K = 5 > the old MAX_SPK of 4: written and read back (fake TTS, no synthesis)."""

    def fake(cache_dir, spk_id, text, fs):
        return _fake_tts(spk_id, text).astype(np.float32), True

    monkeypatch.setattr(corpus_mod, "_load_tts", fake)
    conv = ConvConfig(
        num_test_conv=1, conv_min_sec=40, conv_max_sec=40, conv_min_spk=5, conv_max_spk=5
    )
    cfg = _config(tmp_path, tmp_path / "cache", conv=conv, num_probe_sentences=0, nj=1)
    build_corpus(cfg)
    d = tmp_path / "data" / CONV_SPLIT
    ddir, k = _check_sums(d)
    assert list(k.values()) == [5] and (d / "spk5.scp").is_file()
    assert len(read_rttm_segments(d / "rttm")["test_conv_mix000000"]) >= 10

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Corpus builder and CLI: contract files, invariants, determinism, errors."""

import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet_echo.bin.simulate import main as simulate_main
from espnet_echo.simulate.corpus import (
    SPLITS,
    CorpusConfig,
    assign_sentences,
    build_corpus,
    draw_mixtures,
    split_speakers,
)
from espnet_echo.simulate.errors import SimulateError
from espnet_echo.simulate.mixture import MixConfig
from espnet_echo.simulate.voices import build_inventory
from espnet_echo.utils.fileio import read_kaldi_map

BIBLE = "Gen1:1-20:18"  # small range: fast to read, enough sentences for 2 per speaker
FILES = [
    "wav.scp",
    "noise.scp",
    "utt2spk",
    "spk2utt",
    "utt2spks",
    "utt2num_spk",
    "utt2num_samples",
]


def _config(root: Path, cache: Path, **kw) -> CorpusConfig:
    base = dict(
        out_dir=str(root / "data"),
        wav_dir=str(root / "wav"),
        cache_dir=str(cache),
        num_train=6,
        num_dev=3,
        num_test=3,
        min_spk=1,
        max_spk=3,
        utts_per_spk=2,
        bible_range=BIBLE,
        seed=0,
        nj=2,
    )
    base.update(kw)
    return CorpusConfig(**base)


def _map(path: Path):
    """read_kaldi_map, allowing an empty file (e.g. spk3.scp when no mixture has K=3)."""
    return read_kaldi_map(path) if path.stat().st_size else {}


def _data_files(data_dir: Path):
    return {
        str(p.relative_to(data_dir)): p.read_bytes()
        for p in sorted(data_dir.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    cache = tmp_path_factory.mktemp("cache")
    cfg = _config(root, cache)
    summary = build_corpus(cfg)
    return cfg, summary, root, cache


def _read(path):
    wav, fs = soundfile.read(path, dtype="int16")
    assert fs == 16000 and wav.ndim == 1
    return wav


def test_contract_files_consistent(corpus):
    cfg, summary, root, _ = corpus
    assert summary.mixtures == {"train": 6, "dev": 3, "test": 3}
    for split in SPLITS:
        d = root / "data" / split
        maps = {name: read_kaldi_map(d / name) for name in FILES}
        keys = list(maps["wav.scp"])
        assert keys == [f"{split}_mix{i:06d}" for i in range(summary.mixtures[split])]
        for name, m in maps.items():
            assert list(m) == keys, name
        num_spk = {u: int(k) for u, k in maps["utt2num_spk"].items()}
        for n in range(1, cfg.max_spk + 1):
            scp, txt = _map(d / f"spk{n}.scp"), _map(d / f"text_spk{n}")
            expect = [u for u in keys if num_spk[u] >= n]
            assert list(scp) == expect and list(txt) == expect
            assert all(t and t == t.upper() for t in txt.values())
        assert not (d / f"spk{cfg.max_spk + 1}.scp").exists()
        for u in keys:
            assert maps["utt2spk"][u] == u and maps["spk2utt"][u] == u
            assert len(maps["utt2spks"][u].split()) == num_spk[u]
            assert os.path.isabs(maps["wav.scp"][u]) and os.path.isfile(maps["wav.scp"][u])


def test_mixture_is_exact_sum_of_sources_and_noise(corpus):
    cfg, _, root, _ = corpus
    for split in SPLITS:
        d = root / "data" / split
        wav = read_kaldi_map(d / "wav.scp")
        noise = read_kaldi_map(d / "noise.scp")
        nsamp = read_kaldi_map(d / "utt2num_samples")
        spk = [_map(d / f"spk{n}.scp") for n in (1, 2, 3)]
        for u in wav:
            mix = _read(wav[u])
            total = _read(noise[u]).astype(np.int32)
            for scp in spk:
                if u in scp:
                    s = _read(scp[u])
                    assert s.size == mix.size
                    total += s
            assert mix.size == int(nsamp[u])
            np.testing.assert_array_equal(total, mix.astype(np.int32))


def _rttm(path):
    out = {}
    for line in Path(path).read_text().splitlines():
        f = line.split()
        assert len(f) == 10 and f[0] == "SPEAKER" and f[2] == "1"
        assert f[5:7] == ["<NA>", "<NA>"] and f[8:] == ["<NA>", "<NA>"]
        out.setdefault(f[1], []).append((f[7], float(f[3]), float(f[4])))
    return out


def test_rttm_matches_source_activity(corpus):

    from espnet2.fileio.rttm import RttmReader

    _, _, root, _ = corpus
    for split in SPLITS:
        d = root / "data" / split
        rttm = _rttm(d / "rttm")
        spks = read_kaldi_map(d / "utt2spks")
        nsamp = read_kaldi_map(d / "utt2num_samples")
        reader = RttmReader(str(d / "espnet_rttm"))
        assert sorted(reader.keys()) == sorted(spks)
        for u, ids in spks.items():
            ids = ids.split()
            label = reader[u]
            assert label.shape == (int(nsamp[u]), len(ids))
            for n, spk_id in enumerate(ids):
                src = _read(read_kaldi_map(d / f"spk{n + 1}.scp")[u]).astype(np.float64)
                mask = label[:, n] > 0
                # the same regions in the standard rttm (ms rounding)
                segs = [(a, a + b) for s, a, b in rttm[u] if s == spk_id]
                assert segs
                std_mask = np.zeros(src.size, dtype=bool)
                for a, b in segs:
                    std_mask[int(round(a * 16000)) : int(round(b * 16000))] = True
                assert np.mean(std_mask != mask) < 0.001
                # non-silent where labelled, (near) silent elsewhere
                energy = src**2
                assert energy[~mask].sum() <= 1e-3 * energy.sum()
                quiet = energy[~mask].mean() if (~mask).any() else 0.0
                assert energy[mask].mean() > 100 * max(quiet, 1e-9)
                idx = np.flatnonzero(mask)
                for a in (idx[0], idx[-1] - 159):
                    assert np.any(src[a : a + 160])


def test_speaker_disjoint_splits(corpus):
    _, summary, root, _ = corpus
    used = {}
    for split in SPLITS:
        spks = read_kaldi_map(root / "data" / split / "utt2spks")
        used[split] = {s for v in spks.values() for s in v.split()}
        for v in spks.values():  # no two perturbations of one voice in a mixture
            ids = v.split()
            assert len(set(ids)) == len(ids)
    inv = build_inventory()
    splits = split_speakers(inv, (0.7, 0.15, 0.15), 0, 3)
    sets = {k: {s.spk_id for s in v} for k, v in splits.items()}
    bases = {k: {s.base_voice for s in v} for k, v in splits.items()}
    for a, b in [("train", "dev"), ("train", "test"), ("dev", "test")]:
        assert not used[a] & used[b]
        assert not sets[a] & sets[b] and not bases[a] & bases[b]
    assert sum(len(v) for v in sets.values()) == len(inv)
    for split in SPLITS:
        assert used[split] <= sets[split] and len(bases[split]) >= 3


def test_split_needs_enough_voices():
    with pytest.raises(SimulateError, match="max_spk"):
        split_speakers(build_inventory(["flite"]), (0.7, 0.15, 0.15), 0, 4)


@pytest.mark.parametrize(
    "min_spk, max_spk, weights",
    [(2, 2, None), (1, 3, None), (1, 4, [0.1, 0.2, 0.3, 0.4])],
)
def test_num_spk_distribution(tmp_path, min_spk, max_spk, weights):
    cfg = _config(
        tmp_path, tmp_path / "cache", min_spk=min_spk, max_spk=max_spk, spk_weights=weights
    )
    inv = build_inventory()
    splits = split_speakers(inv, cfg.split_fractions, 0, max_spk)
    sents = [f"SENTENCE NUMBER {i}" for i in range(len(inv) * cfg.utts_per_spk)]
    pools = assign_sentences(splits, sents, cfg.utts_per_spk, 0)
    specs = draw_mixtures("train", 4000, splits["train"], pools, cfg, tmp_path)
    hist = Counter(len(s.speakers) for s in specs)
    ks, probs = cfg.spk_distribution()
    assert set(hist) == set(ks)
    for k, p in zip(ks, probs):
        assert abs(hist[k] / 4000 - p) < 0.03
    for s in specs:
        assert all(t in pools[p] for p, t in zip(s.speakers, s.texts))


def test_idempotent_rerun(corpus):
    cfg, _, root, _ = corpus
    before = _data_files(root / "data")
    wav_before = {
        p: p.read_bytes() for p in (root / "wav").rglob("*.wav") if ".tts_cache" not in str(p)
    }
    summary = build_corpus(cfg)
    assert summary.tts_synthesised == 0 and summary.tts_cached > 0
    assert _data_files(root / "data") == before
    assert {p: p.read_bytes() for p in wav_before} == wav_before


def test_deterministic_for_seed(corpus, tmp_path):
    cfg, _, root, _ = corpus
    # fresh TTS cache: synthesis itself must be deterministic too
    other = _config(tmp_path, tmp_path / "cache2")
    build_corpus(other)
    for rel, data in _data_files(root / "data").items():
        mine = (tmp_path / "data" / rel).read_bytes()
        assert mine == data.replace(str(root).encode(), str(tmp_path).encode()), rel
    for p in (root / "wav").rglob("*.wav"):
        if ".tts_cache" not in str(p):
            mine = tmp_path / "wav" / p.relative_to(root / "wav")
            assert mine.read_bytes() == p.read_bytes()
    # another seed: other speaker split and other draws
    inv = build_inventory()
    split0, split1 = (split_speakers(inv, (0.7, 0.15, 0.15), seed, 3) for seed in (0, 1))
    assert split0["test"] != split1["test"]
    sents = [f"SENTENCE {i}" for i in range(len(inv) * 2)]
    draws = [
        draw_mixtures(
            "dev", 20, sp["dev"], assign_sentences(sp, sents, 2, seed), cfg, tmp_path
        )
        for sp, seed in ((split0, 0), (split1, 1))
    ]
    assert [d.speakers for d in draws[0]] != [d.speakers for d in draws[1]]


def test_unwritable_out_dir_keeps_outputs(corpus, tmp_path):
    cfg, _, root, cache = corpus
    before = _data_files(root / "data")
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    bad = _config(root, cache, wav_dir=str(blocker / "wav"), num_train=7)
    with pytest.raises(SimulateError, match=f"{blocker / 'wav'}.*not writable"):
        build_corpus(bad)
    assert _data_files(root / "data") == before
    if os.geteuid() != 0:  # root ignores permission bits
        os.chmod(root / "data", 0o555)
        try:
            with pytest.raises(SimulateError, match="not writable"):
                build_corpus(_config(root, cache, num_train=7))
        finally:
            os.chmod(root / "data", 0o755)
        assert _data_files(root / "data") == before


def test_stale_speaker_files_removed(corpus, tmp_path):
    cfg, _, root, cache = corpus
    shutil.copytree(root / "data", tmp_path / "data")
    (tmp_path / "data" / "dev" / "spk4.scp").write_text("dev_mix000000 /x.wav\n")
    build_corpus(_config(tmp_path, cache, max_spk=2))
    names = {p.name for p in (tmp_path / "data" / "dev").iterdir()}
    assert "spk2.scp" in names and "spk3.scp" not in names and "spk4.scp" not in names
    assert "text_spk3" not in names


def test_cli_and_yaml_config(corpus, tmp_path, capsys):
    _, _, _, cache = corpus
    conf = tmp_path / "conf.yaml"
    conf.write_text(
        f"num_train: 2\nnum_dev: 1\nnum_test: 1\nmax_spk: 2\nutts_per_spk: 2\n"
        f"bible_range: {BIBLE}\nsnr_range: [20, 30]\nlength_mode: min\ncache_dir: {cache}\n"
    )
    out = tmp_path / "out"
    rc = simulate_main(
        ["--config", str(conf), "--out_dir", str(out / "data"), "--wav_dir", str(out / "wav"),
         "--num_train", "3", "--nj", "1", "--log_level", "WARNING"]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "train:      3 mixtures" in printed and "wall time" in printed and " h" in printed
    assert len(read_kaldi_map(out / "data" / "train" / "wav.scp")) == 3  # flag beats YAML
    assert not (out / "data" / "train" / "spk3.scp").exists()

    conf.write_text("num_train: 2\nnum_trian: 3\n")
    with pytest.raises(SystemExit) as e:
        simulate_main(["--config", str(conf)])
    assert e.value.code == 2
    assert "unknown key 'num_trian'" in capsys.readouterr().err

    conf.write_text("snr_range: 10\n")
    with pytest.raises(SystemExit):
        simulate_main(["--config", str(conf)])
    assert "key 'snr_range'" in capsys.readouterr().err

    rc = simulate_main(["--out_dir", str(tmp_path / "d"), "--min_spk", "3", "--max_spk", "2"])
    assert rc == 1 and "min_spk" in capsys.readouterr().err


def test_config_validation():
    with pytest.raises(ValueError, match="max_spk"):
        CorpusConfig(max_spk=7).validate()
    with pytest.raises(ValueError, match="spk_weights"):
        CorpusConfig(min_spk=1, max_spk=3, spk_weights=[1, 2]).validate()
    with pytest.raises(ValueError, match="snr_range"):
        CorpusConfig(mix=MixConfig(snr_range=(30, 10))).validate()

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Reference dirs shared by the scoring tests: a tiny synthetic data dir and its dump."""

import shutil

import numpy as np
import pytest
import soundfile

from espnet_echo.metrics.baseline import make_baseline_hyp

FS = 16000


def _wav(path, x, fs=FS):
    soundfile.write(str(path), x.astype(np.int16), fs, subtype="PCM_16")
    return str(path.resolve())


def _burst(rng, start, end, n=FS):
    x = np.zeros(n)
    a, b = int(start * FS), int(end * FS)
    x[a:b] = rng.normal(scale=3000, size=b - a)
    return np.round(x)


@pytest.fixture(scope="module")
def ref_dir(tmp_path_factory):
    """Two 1-s mixtures: mix0 K=2 (a [0,0.6], b [0.4,1.0]), mix1 K=1 (a [0.2,0.8])."""
    d = tmp_path_factory.mktemp("data") / "test"
    (d / "wav").mkdir(parents=True)
    rng = np.random.default_rng(0)
    utts = {
        "test_mix000000": [
            ("spkA", 0.0, 0.6, "HELLO WORLD"), ("spkB", 0.4, 1.0, "FOO BAR BAZ")
        ],
        "test_mix000001": [("spkA", 0.2, 0.8, "ONE TWO")],
    }
    files = {k: {} for k in ("wav.scp", "spk1.scp", "spk2.scp", "text_spk1", "text_spk2",
                             "utt2num_spk", "utt2num_samples", "noise.scp", "utt2spks")}
    rttm = []
    for utt, spks in utts.items():
        srcs = [_burst(rng, s, e) for _, s, e, _ in spks]
        noise = np.round(rng.normal(scale=30, size=FS))
        files["wav.scp"][utt] = _wav(d / "wav" / f"{utt}.wav", sum(srcs) + noise)
        files["noise.scp"][utt] = _wav(d / "wav" / f"{utt}_noise.wav", noise)
        for n, (spk, s, e, text) in enumerate(spks, 1):
            files[f"spk{n}.scp"][utt] = _wav(d / "wav" / f"{utt}_s{n}.wav", srcs[n - 1])
            files[f"text_spk{n}"][utt] = text
            rttm.append(f"SPEAKER {utt} 1 {s:.3f} {e - s:.3f} <NA> <NA> {spk} <NA> <NA>\n")
        files["utt2num_spk"][utt] = len(spks)
        files["utt2num_samples"][utt] = FS
        files["utt2spks"][utt] = " ".join(s[0] for s in spks)
    for name, m in files.items():
        (d / name).write_text("".join(f"{k} {v}\n" for k, v in sorted(m.items())))
    (d / "rttm").write_text("".join(rttm))
    return d


@pytest.fixture(scope="module")
def dump_dir(ref_dir, tmp_path_factory):
    """The same data in the format_data dump layout: speech_ref.scp, text_spk1..3 for all."""
    d = tmp_path_factory.mktemp("dump") / "test"
    d.mkdir()
    for name in ("wav.scp", "utt2num_spk", "utt2num_samples", "rttm"):
        shutil.copy(ref_dir / name, d / name)
    spk = [dict(line.split() for line in (ref_dir / f"spk{n}.scp").read_text().splitlines())
           for n in (1, 2)]
    utts = sorted(spk[0])
    (d / "speech_ref.scp").write_text(
        "".join(f"{u} {' '.join(m[u] for m in spk if u in m)}\n" for u in utts)
    )
    for n in (1, 2, 3):
        src = ref_dir / f"text_spk{n}"
        texts = dict(line.split(maxsplit=1) for line in src.read_text().splitlines()) \
            if src.exists() else {}
        (d / f"text_spk{n}").write_text(
            "".join(f"{u} {texts[u]}\n" if u in texts else f"{u}\n" for u in utts)
        )
    return d


@pytest.fixture
def make_hyp(tmp_path):
    """``make_hyp(ref_dir, kind)``: a baseline hypothesis dir ``<tmp>/<kind>/decode_test``."""

    def make(ref_dir, kind):
        out = tmp_path / kind / "decode_test"
        make_baseline_hyp(ref_dir, out, kind)
        return out

    return make

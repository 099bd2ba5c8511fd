# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of espnet_echo.ssl.gmm_fit (the GMM anchor fit; its CLI: bin/test_fit_gmm.py)."""

import numpy as np
import pytest
import soundfile
import torch

from espnet_echo.ssl.gmm import DiagonalGMM
from espnet_echo.ssl.gmm_fit import (
    build_frontend,
    compute_frames,
    fit_gmm,
    read_wav_list,
    subsample,
)
from espnet_echo.utils.audio import AudioError

# The recipe's GMM-anchored pretraining config names the GMM being fitted.
CONFIG = """frontend: default
frontend_conf: {fs: 16000, n_fft: 256, hop_length: 128, n_mels: 12}
encoder: echo_vit
encoder_conf: {output_size: 8, attention_heads: 2, linear_units: 16, num_blocks: 1}
model_conf: {gmm_file: GMM_FILE}
"""


@pytest.fixture
def inputs(tmp_path):
    """Three 0.25-s noise wavs listed in two scp files (one line holds two paths)."""
    rng = np.random.default_rng(1)
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"n{i}.wav")
        soundfile.write(paths[-1], 0.1 * rng.standard_normal(4000), 16000, subtype="FLOAT")
    scp1, scp2 = tmp_path / "a.scp", tmp_path / "b.scp"
    scp1.write_text(f"x {paths[0]} {paths[1]}\n")
    scp2.write_text(f"y {paths[2]}\n")
    out = tmp_path / "gmm" / "gmm.npz"
    config = tmp_path / "pretrain.yaml"
    config.write_text(CONFIG.replace("GMM_FILE", str(out)))
    return config, [scp1, scp2], paths, out


def test_read_wav_list(inputs):
    _, (scp1, scp2), paths, _ = inputs
    assert read_wav_list([scp1, scp2]) == [
        (f"{scp1}:1", str(paths[0])),
        (f"{scp1}:1", str(paths[1])),
        (f"{scp2}:1", str(paths[2])),
    ]


def test_frontend_of_a_config_whose_gmm_is_not_fitted_yet(inputs):
    config, scps, _, out = inputs
    frontend, conf = build_frontend(config)
    assert not out.exists() and not frontend.training
    assert conf == {"fs": 16000, "n_fft": 256, "hop_length": 128, "n_mels": 12}
    frames = compute_frames(frontend, read_wav_list(scps), 16000)
    assert frames.shape == (3 * (4000 // 128 + 1), 12)


def test_compute_frames_names_the_scp_line(inputs, tmp_path):
    config, _, paths, _ = inputs
    frontend, _ = build_frontend(config)
    with pytest.raises(AudioError, match=f"b.scp:7: {paths[0]}: sample rate 16000 Hz"):
        compute_frames(frontend, [("b.scp:7", str(paths[0]))], 8000)


def test_subsample():
    frames = torch.arange(20.0)[:, None]
    assert subsample(frames, 50, seed=0) is frames
    kept = subsample(frames, 5, seed=0)
    assert kept.shape == (5, 1) and torch.all(kept[1:, 0] > kept[:-1, 0])  # in order
    assert torch.equal(subsample(frames, 5, seed=0), kept)
    assert not torch.equal(subsample(frames, 5, seed=1), kept)


def test_fit_then_up_to_date(inputs):
    config, scps, _, out = inputs
    summary = fit_gmm(config, scps, out, num_components=3, max_frames=60, num_iters=3)
    assert summary["num_signals"] == 3 and summary["num_frames"] == 60
    assert summary["num_frames_total"] == 3 * (4000 // 128 + 1)
    gmm = DiagonalGMM.load(out, feat_dim=12)
    assert gmm.num_components == 3 and summary["digest"] == gmm.digest()
    assert 0.0 <= summary["normalized_entropy"] <= 1.0
    assert fit_gmm(config, scps, out, num_components=3, max_frames=60, num_iters=3) is None
    out.write_bytes(b"broken")  # a stamp alone is not enough: the output must load
    assert fit_gmm(config, scps, out, num_components=3, max_frames=60, num_iters=3)


def test_pipe_and_space_entries_are_read_like_a_data_dir(inputs, tmp_path):
    config, scps, paths, _ = inputs
    spaced = tmp_path / "a dir" / "n 0.wav"
    spaced.parent.mkdir()
    spaced.write_bytes(paths[0].read_bytes())
    scp = tmp_path / "c.scp"
    scp.write_text(f"p cat {paths[1]} |\nq {spaced}\n")
    assert read_wav_list([scp]) == [
        (f"{scp}:1", f"cat {paths[1]} |"), (f"{scp}:2", str(spaced))
    ]
    frontend, _ = build_frontend(config)
    got = compute_frames(frontend, read_wav_list([scp]), 16000)
    want = compute_frames(frontend, [("x", str(paths[1])), ("y", str(paths[0]))], 16000)
    assert torch.equal(got, want)
    with pytest.raises(AudioError, match=r"c.scp:1: the command 'false' failed"):
        compute_frames(frontend, [(f"{scp}:1", "false |")], 16000)

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of espnet_echo.bin.fit_gmm (GMM anchor fitting on log-mel frames)."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet_echo.bin.fit_gmm import main
from espnet_echo.ssl.gmm import DiagonalGMM

N_MELS = 20


def _setup(root: Path):
    """Four 0.5-s wavs (tones in noise), a scp with 3 lines (one has 2 paths), a config."""
    rng = np.random.default_rng(0)
    t = np.arange(8000) / 16000
    paths = []
    for i in range(4):
        wav = 0.3 * np.sin(2 * np.pi * (200 + 300 * i) * t) + 0.01 * rng.standard_normal(8000)
        path = root / f"w{i}.wav"
        soundfile.write(path, wav, 16000, subtype="PCM_16")
        paths.append(path)
    scp = root / "wav.scp"
    scp.write_text(f"a {paths[0]}\nb {paths[1]} {paths[2]}\nc {paths[3]}\n")
    config = root / "train.yaml"
    config.write_text(
        "frontend: default\nfrontend_conf:\n  fs: 16000\n  n_fft: 512\n  win_length: 400\n"
        f"  hop_length: 160\n  n_mels: {N_MELS}\nencoder: echo_vit\n"
    )
    return config, scp, paths


def _args(config, scp, out, *extra):
    return ["--config", str(config), "--wav_scp", str(scp), "--out", str(out),
            "--num_components", "4", "--max_frames", "150", "--num_iters", "5", *extra]


def test_fit_save_and_skip(tmp_path, caplog):
    config, scp, _ = _setup(tmp_path)
    out = tmp_path / "exp" / "gmm" / "gmm.npz"
    with caplog.at_level(logging.INFO):
        main(_args(config, scp, out))
    gmm = DiagonalGMM.load(out, feat_dim=N_MELS)
    assert gmm.num_components == 4
    assert json.loads(gmm.description)["frontend_conf"]["n_mels"] == N_MELS
    log = caplog.text
    assert "4 signals, 204 frames, fitting on 150" in log
    assert "mean log-likelihood" in log and "normalised entropy" in log
    digest, mtime = gmm.digest(), out.stat().st_mtime_ns

    caplog.clear()
    with caplog.at_level(logging.INFO):
        main(_args(config, scp, out))  # same inputs: no-op
    assert "up to date" in caplog.text and out.stat().st_mtime_ns == mtime

    main(_args(config, scp, out, "--seed", "1"))  # other options: refit
    assert DiagonalGMM.load(out).digest() != digest
    main(_args(config, scp, out))  # back to seed 0: same model as before
    assert DiagonalGMM.load(out).digest() == digest


def test_errors_keep_the_existing_output(tmp_path):
    config, scp, paths = _setup(tmp_path)
    out = tmp_path / "gmm.npz"
    main(_args(config, scp, out))
    before = out.read_bytes()
    data = paths[2].read_bytes()
    paths[2].write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(SystemExit) as exc:
        main(_args(config, scp, out, "--seed", "3"))
    err = str(exc.value.code)
    assert f"{scp}:2" in err and str(paths[2]) in err and "truncated" in err
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".gmm")) == [
        ".gmm.npz.stamp.json"
    ]  # no temporary files left

    other = tmp_path / "s3prl.yaml"
    other.write_text("frontend: s3prl\n")
    with pytest.raises(SystemExit) as exc:
        main(_args(other, scp, out))
    assert f"{other}: needs 'frontend: default'" in str(exc.value.code)

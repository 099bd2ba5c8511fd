# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of espnet_echo.bin.linear_probe (frozen-encoder speaker-ID and CTC probes)."""

import json

import pytest
import torch

from espnet_echo.bin.linear_probe import (
    ProbeError,
    build_feature_extractor,
    load_encoder_weights,
    main,
    speaker_probe,
    split_by_speaker,
)
from espnet_echo.bin.simulate import main as simulate_main

CONFIG = """frontend: default
frontend_conf:
  fs: 16000
  n_fft: 512
  win_length: 400
  hop_length: 160
  n_mels: 80
encoder: echo_vit
encoder_conf:
  output_size: 32
  attention_heads: 4
  linear_units: 64
  num_blocks: 1
"""
TOKENS = ["<blank>", "<unk>", "<space>", *"ETAOINSHRDLUCMFWYGPBVKXJQZ'", "<sos/eos>"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """One-speaker mixtures of 10 flite voices (2 base voices x pitch/rate variants)."""
    root = tmp_path_factory.mktemp("probe")
    rc = simulate_main([
        "--out_dir", str(root / "data"), "--wav_dir", str(root / "wav"),
        "--num_train", "36", "--num_dev", "2", "--num_test", "2",
        "--min_spk", "1", "--max_spk", "1", "--engines", "flite",
        "--split_fractions", "0.5", "0.25", "0.25", "--utts_per_spk", "4",
        "--bible_range", "Gen1:1-20:18", "--nj", "2", "--log_level", "WARNING",
    ])
    assert rc == 0
    (root / "tiny.yaml").write_text(CONFIG)
    (root / "tokens.txt").write_text("".join(t + "\n" for t in TOKENS))
    return root


def test_probe_end_to_end(setup):
    out = setup / "exp" / "probe.json"
    main(["--config", str(setup / "tiny.yaml"), "--data_dir", str(setup / "data/train"),
          "--token_list", str(setup / "tokens.txt"), "--out", str(out)])
    result = json.loads(out.read_text())
    for key in ("speaker_acc", "speaker_chance", "num_speakers", "ctc_cer", "num_train",
                "num_test", "encoder", "checkpoint"):
        assert key in result, key
    assert result["encoder"] == "EchoViTEncoder" and result["checkpoint"] is None
    assert result["num_speakers"] >= 3 and result["num_test"] >= result["num_speakers"]
    assert result["num_train"] + result["num_test"] <= result["num_sources"] == 36
    # distinct voices: mean-pooled features of even a random encoder are separable
    assert result["speaker_acc"] >= result["speaker_chance"] + 0.25
    assert 0.0 <= result["ctc_cer"] and result["ctc_num_test"] > 0


def test_speaker_probe_without_repeated_speakers_is_skipped():
    result = speaker_probe(torch.randn(3, 4), ["a", "b", "b"], seed=0)
    assert result["speaker_acc"] is None and result["num_test"] == 0
    assert "1 speaker(s) with >= 2 sources" in result["speaker_probe_skipped"]


def test_split_by_speaker_holds_out_per_speaker():
    labels = ["a"] * 10 + ["b"] * 2 + ["c"]
    train, test, speakers = split_by_speaker(labels, seed=0)
    assert speakers == ["a", "b"]
    assert sorted(train + test) == list(range(12)) and not set(train) & set(test)
    assert sum(labels[i] == "a" for i in test) == 3
    assert sum(labels[i] == "b" for i in test) == 1
    assert split_by_speaker(labels, seed=0) == (train, test, speakers)


def test_checkpoint_loading(setup, tmp_path):
    _, _, encoder, fs = build_feature_extractor(setup / "tiny.yaml")
    assert fs == 16000
    _, _, other, _ = build_feature_extractor(setup / "tiny.yaml")
    state = {f"target_encoder.{k}": v for k, v in other.state_dict().items()}
    state["predictor.w"] = torch.zeros(3)
    ckpt = tmp_path / "model.pth"
    torch.save(state, ckpt)
    assert load_encoder_weights(encoder, ckpt, "target_encoder") == len(other.state_dict())
    for k, v in encoder.state_dict().items():
        assert torch.equal(v, other.state_dict()[k]), k

    with pytest.raises(ProbeError, match=r"no key starts with 'encoder\.'.*predictor"):
        load_encoder_weights(encoder, ckpt, "encoder")
    key = "target_encoder.embed.proj.weight"
    assert key in state
    state[key] = torch.zeros(5, 5)
    torch.save({"model": state}, ckpt)  # trainer-checkpoint layout
    with pytest.raises(ProbeError, match=f"{ckpt}: {key} has shape"):
        load_encoder_weights(encoder, ckpt, "target_encoder")
    del state[key]
    torch.save(state, ckpt)
    with pytest.raises(ProbeError, match="missing"):
        load_encoder_weights(encoder, ckpt, "target_encoder")


def test_normalize_stats_replaces_config_normalize(setup, tmp_path):
    stats = tmp_path / "feats_stats.npz"
    import numpy as np

    count = 10
    np.savez(stats, count=np.array(count), sum=np.full(80, 2.0 * count),
             sum_square=np.full(80, 5.0 * count))
    _, normalize, _, _ = build_feature_extractor(setup / "tiny.yaml", stats)
    x = torch.full((1, 3, 80), 2.0)
    y, _ = normalize(x, torch.tensor([3]))
    assert torch.allclose(y, torch.zeros_like(y))  # mean 2 removed
    with pytest.raises(ProbeError, match="nope.npz: normalize stats file not found"):
        build_feature_extractor(setup / "tiny.yaml", tmp_path / "nope.npz")

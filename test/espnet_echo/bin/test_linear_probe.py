# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Command line of espnet_echo.bin.linear_probe (the probes: ssl/test_probe.py)."""

import json

import pytest

from espnet_echo.bin.linear_probe import main
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


def test_bad_inputs_are_one_line_errors(setup, tmp_path, capsys):
    args = ["--config", str(setup / "tiny.yaml"), "--data_dir", str(setup / "data/train"),
            "--out", str(tmp_path / "probe.json")]
    with pytest.raises(SystemExit) as e:
        main(args + ["--token_list", str(tmp_path / "nope.txt")])
    nope = tmp_path / "nope.txt"
    assert e.value.code == f"linear_probe: error: {nope}: token list not found"
    with pytest.raises(SystemExit) as e:
        main(args + ["--token_list", str(setup / "tokens.txt"),
                     "--checkpoint", str(tmp_path / "nope.pth")])
    assert str(e.value.code).startswith(f"linear_probe: error: {tmp_path / 'nope.pth'}: ")
    assert not (tmp_path / "probe.json").exists()
    with pytest.raises(SystemExit) as e:
        main(args)  # --token_list is required
    assert e.value.code == 2 and "--token_list" in capsys.readouterr().err

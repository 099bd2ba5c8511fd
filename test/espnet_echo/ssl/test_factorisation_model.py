# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""The factorisation probe end to end on a tiny Echo model and a crossed data dir."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from espnet_echo.bin.factorisation_probe import main
from espnet_echo.ssl.factorisation import factorisation_probe
from espnet_echo.tasks.echo import EchoTask

TINY = [
    "--frontend_conf", "n_fft=128", "--frontend_conf", "hop_length=64",
    "--frontend_conf", "n_mels=16",
    "--encoder", "echo_vit", "--encoder_conf", "output_size=32",
    "--encoder_conf", "num_blocks=2", "--encoder_conf", "attention_heads=2",
    "--encoder_conf", "linear_units=32",
    "--spk_head_conf", "hidden_size=16", "--spk_head_conf", "embed_dim=8",
    "--spk_head_conf", "window_s=0.5", "--spk_head_conf", "min_solo_frames=2",
]
SENTENCES = ["IN THE BEGINNING", "AND GOD SAID"]
SPEAKERS = {"low": 180.0, "mid": 420.0, "high": 900.0}


@pytest.fixture(scope="module")
def probe_dir(tmp_path_factory):
    """3 speakers (pitch) x 2 sentences (amplitude pattern), clean, one source each."""
    root = tmp_path_factory.mktemp("probe")
    wav_dir = root / "wav"
    wav_dir.mkdir()
    fs, n = 16000, 8000
    t = np.arange(n) / fs
    lines = {"wav.scp": [], "spk1.scp": [], "utt2spks": [], "text_spk1": [],
             "utt2num_spk": []}
    for i, (spk, f0) in enumerate(SPEAKERS.items()):
        for j, text in enumerate(SENTENCES):
            utt = f"probe_mix{i * 10 + j:06d}"
            envelope = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * (2 + 3 * j) * t))
            x = (0.3 * envelope * np.sin(2 * np.pi * f0 * t)).astype(np.float32)
            path = wav_dir / f"{utt}.wav"
            sf.write(path, x, fs, subtype="PCM_16")
            lines["wav.scp"].append(f"{utt} {path}")
            lines["spk1.scp"].append(f"{utt} {path}")
            lines["utt2spks"].append(f"{utt} {spk}")
            lines["text_spk1"].append(f"{utt} {text}")
            lines["utt2num_spk"].append(f"{utt} 1")
    d = root / "probe"
    d.mkdir()
    for name, rows in lines.items():
        (d / name).write_text("\n".join(sorted(rows)) + "\n")
    return d


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    """config.yaml of a tiny diar + speaker-head model (no ASR head: content = encoder)."""
    root = tmp_path_factory.mktemp("model")
    spk_list = root / "spk_list.txt"
    spk_list.write_text("a\nb\n")
    out = root / "exp"
    EchoTask.main(cmd=["--sep_head", "none", "--asr_head", "none", "--spk_head", "arcface",
                       "--spk_list", str(spk_list), "--dry_run", "true",
                       "--output_dir", str(out), *TINY])
    return out / "config.yaml"


def test_probe_of_a_tiny_model(probe_dir, config):
    torch.manual_seed(0)
    model, _ = EchoTask.build_model_from_file(config, None, "cpu")
    r = factorisation_probe(model, probe_dir)
    assert (r.num_items, r.num_speakers, r.num_contents) == (6, 3, 2)
    for v in (r.speaker_id_spk, r.speaker_id_content, r.content_id_content,
              r.content_id_spk):
        assert 0.0 <= v <= 100.0 and v * 6 / 100 == pytest.approx(round(v * 6 / 100))
    assert r.gap == pytest.approx(
        ((r.speaker_id_spk - r.speaker_id_content)
         + (r.content_id_content - r.content_id_spk)) / 2
    )
    # chance: 3 speakers x 2 items (1 of 5 others), 2 sentences x 3 items (2 of 5)
    assert r.chance_speaker == pytest.approx(20.0)
    assert r.chance_content == pytest.approx(40.0)
    # the on/off pattern is what these signals differ in most: a random encoder's
    # mean-pooled features already tell the "sentences" apart
    assert r.content_id_content > r.chance_content


def test_cli_random_init_writes_json(probe_dir, config, tmp_path, capsys):
    out = tmp_path / "probe.json"
    main(["--train_config", str(config), "--random_init", "--data_dir", str(probe_dir),
          "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["num_items"] == 6 and result["model_file"] is None
    assert "gap" in capsys.readouterr().out


def test_cli_errors(probe_dir, config, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--train_config", str(config), "--data_dir", str(probe_dir),
              "--out", str(tmp_path / "p.json")])
    assert e.value.code == 2  # neither --model_file nor --random_init
    conf = yaml.safe_load(config.read_text())
    conf["spk_head"] = None
    no_spk = tmp_path / "no_spk.yaml"
    no_spk.write_text(yaml.safe_dump(conf))
    with pytest.raises(SystemExit) as e:
        main(["--train_config", str(no_spk), "--random_init", "--data_dir", str(probe_dir),
              "--out", str(tmp_path / "p.json")])
    assert "speaker head" in str(e.value.code)
    with pytest.raises(SystemExit) as e:
        main(["--train_config", str(config), "--random_init", "--data_dir",
              str(tmp_path / "missing"), "--out", str(tmp_path / "p.json")])
    assert "missing" in str(e.value.code)
    assert not (tmp_path / "p.json").exists()


def test_probe_refuses_data_whose_labels_never_repeat(probe_dir, config, tmp_path):
    import shutil

    d = tmp_path / "unique"
    shutil.copytree(probe_dir, d)
    rows = (d / "utt2spks").read_text().splitlines()
    (d / "utt2spks").write_text("".join(f"{r.split()[0]} spk{i}\n" for i, r in enumerate(rows)))
    model, _ = EchoTask.build_model_from_file(config, None, "cpu")
    with pytest.raises(ValueError, match="no speaker occurs twice among its 6 sources"):
        factorisation_probe(model, d)

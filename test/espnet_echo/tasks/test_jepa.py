"""JEPATask: parser, configs, --init_param transfer to EchoTask, a tiny pretraining run."""

import logging
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from espnet2.torch_utils.load_pretrained_model import load_pretrained_model

from espnet_echo.bin.jepa_train import main as jepa_main
from espnet_echo.simulate.corpus import write_wav
from espnet_echo.simulate.voices import Speaker, synthesize
from espnet_echo.ssl.gmm import DiagonalGMM
from espnet_echo.tasks.echo import EchoTask
from espnet_echo.tasks.jepa import JEPATask

REPO = Path(__file__).resolve().parents[3]
CONF = REPO / "egs2" / "mini_mix" / "echo1" / "conf"
FRONTEND = ["--frontend_conf", "n_fft=128", "--frontend_conf", "win_length=128",
            "--frontend_conf", "hop_length=64", "--frontend_conf", "n_mels=16"]
ENCODER = ["--encoder", "echo_vit", "--encoder_conf", "output_size=32",
           "--encoder_conf", "num_blocks=2", "--encoder_conf", "attention_heads=2",
           "--encoder_conf", "linear_units=64"]
TINY = FRONTEND + ENCODER + [
    "--predictor_conf", "output_size=32", "--predictor_conf", "attention_heads=2",
    "--predictor_conf", "linear_units=64", "--predictor_conf", "num_blocks=1",
    "--model_conf", "min_span=2", "--model_conf", "max_span=5",
]
SENTENCES = [
    "in the beginning god created the heaven and the earth",
    "and the earth was without form and void",
    "and darkness was upon the face of the deep",
    "and the spirit of god moved upon the face of the waters",
    "and god said let there be light and there was light",
    "and god saw the light that it was good",
    "and god divided the light from the darkness",
    "and god called the light day and the darkness he called night",
]


def test_parser_and_print_config(tmp_path):
    with pytest.raises(SystemExit):
        jepa_main(["--help"])
    config = tmp_path / "config.yaml"
    with open(config, "w") as f:
        JEPATask.print_config(f)
    args = JEPATask.get_parser().parse_args(["--config", str(config)])
    assert args.encoder == "echo_vit" and args.model_conf["loss_type"] == "mse"
    assert "gmm_file" in args.model_conf and "output_size" in args.predictor_conf


PAIRS = [  # (pretraining config, downstream config that takes its encoder, base config)
    ("pretrain_jepa.yaml", "train_echo_jepa.yaml", "train_echo.yaml"),
    ("pretrain_jepa_gmm.yaml", "train_echo_jepa_gmm.yaml", "train_echo.yaml"),
    ("pretrain_jepa_gmm_daam.yaml", "train_echo_jepa_gmm_daam.yaml", "train_echo.yaml"),
    ("pretrain_jepa_ci.yaml", "train_echo_jepa_ci.yaml", "train_echo_ci.yaml"),
]


@pytest.mark.parametrize("name, downstream, base", PAIRS)
def test_recipe_configs_build(tmp_path, name, downstream, base):
    conf = yaml.safe_load((CONF / name).read_text())
    echo_conf = yaml.safe_load((CONF / downstream).read_text())
    assert conf["encoder_conf"] == echo_conf["encoder_conf"]
    assert conf["frontend_conf"] == echo_conf["frontend_conf"]
    # the downstream model is its base config (same budget) + the pretrained encoder
    assert echo_conf.pop("init_param") == [
        f"exp/jepa_{Path(name).stem}/latest.pth:target_encoder:encoder"
    ]
    base_conf = yaml.safe_load((CONF / base).read_text())
    echo_conf["encoder_conf"].pop("use_daam", None)
    echo_conf["encoder_conf"].pop("daam_conf", None)
    assert echo_conf == base_conf
    extra = []
    if "gmm_file" in conf["model_conf"]:
        gmm = DiagonalGMM(torch.zeros(4, 80), torch.ones(4, 80), torch.full((4,), 0.25))
        gmm.save(tmp_path / "gmm.npz")
        extra = ["--model_conf", f"gmm_file={tmp_path / 'gmm.npz'}"]
    jepa_main(["--config", str(CONF / name), "--dry_run", "true",
               "--output_dir", str(tmp_path / "exp"), *extra])
    model, _ = JEPATask.build_model_from_file(tmp_path / "exp" / "config.yaml", None, "cpu")
    assert (model.gmm is not None) == ("gmm_file" in conf["model_conf"])


def test_predictor_input_size_mismatch(tmp_path):
    with pytest.raises(ValueError, match="input_size"):
        jepa_main(["--dry_run", "true", "--output_dir", str(tmp_path), *TINY,
                   "--predictor_conf", "input_size=7"])


def test_init_param_into_echo_encoder(tmp_path):
    jepa_args = JEPATask.get_parser().parse_args(TINY)
    jepa = JEPATask.build_model(jepa_args)
    with torch.no_grad():  # make the target differ from the context encoder
        for p in jepa.target_encoder.parameters():
            p.add_(torch.randn_like(p))
    ckpt = tmp_path / "jepa.pth"
    torch.save(jepa.state_dict(), ckpt)
    echo_args = EchoTask.get_parser().parse_args(
        FRONTEND + ENCODER + ["--asr_head", "none", "--sep_head", "none"])
    echo = EchoTask.build_model(echo_args)
    prefix = "target_encoder."
    assert set(echo.encoder.state_dict()) == {
        k[len(prefix):] for k in jepa.state_dict() if k.startswith(prefix)
    }
    load_pretrained_model(f"{ckpt}:target_encoder:encoder", echo, ignore_init_mismatch=False)
    for k, v in jepa.target_encoder.state_dict().items():
        assert torch.equal(echo.encoder.state_dict()[k], v), k


@pytest.fixture(scope="module")
def wav_scp(tmp_path_factory):
    """16 TTS utterances (2 voices x 8 sentences, 2-4 s) as a wav.scp + shape file."""
    root = tmp_path_factory.mktemp("jepa_data")
    lines, shapes = [], []
    for v, voice in enumerate(["flite-slt", "flite-awb"]):
        for s, text in enumerate(SENTENCES):
            utt = f"utt{v}{s}"
            audio = synthesize(Speaker.from_id(voice), text)
            write_wav(root / f"{utt}.wav", (np.clip(audio, -1, 1) * 32000).astype(np.int16))
            lines.append(f"{utt} {root / f'{utt}.wav'}")
            shapes.append(f"{utt} {len(audio)}")
    (root / "wav.scp").write_text("\n".join(lines) + "\n")
    (root / "speech_shape").write_text("\n".join(shapes) + "\n")
    return root


def _epoch_stats(log: str, phase: str, key: str):
    """Per-epoch values of ``key`` from ESPnet's epoch summary lines."""
    return [float(m) for m in re.findall(rf"\[{phase}\][^\n]*?\b{key}=([-\d.e+]+)", log)]


def test_tiny_pretraining_run(wav_scp, tmp_path, caplog):
    """Loss falls over 4 epochs, targets do not collapse, the checkpoint resumes."""
    out = tmp_path / "exp"
    data = [
        "--train_data_path_and_name_and_type", f"{wav_scp / 'wav.scp'},speech,sound",
        "--valid_data_path_and_name_and_type", f"{wav_scp / 'wav.scp'},speech,sound",
        "--train_shape_file", str(wav_scp / "speech_shape"),
        "--valid_shape_file", str(wav_scp / "speech_shape"),
    ]
    gmm = DiagonalGMM(torch.randn(8, 16) - 6.0, torch.full((8, 16), 6.0),
                      torch.full((8,), 0.125))
    gmm.save(tmp_path / "gmm.npz")
    with caplog.at_level(logging.INFO):
        jepa_main([*TINY, *data, "--output_dir", str(out), "--ngpu", "0",
                   "--normalize", "utterance_mvn", "--batch_type", "unsorted",
                   "--batch_size", "4", "--max_epoch", "4", "--num_workers", "0",
                   "--optim", "adam", "--optim_conf", "lr=0.003", "--seed", "0",
                   "--model_conf", "ema_start=0.95", "--model_conf", "ema_anneal_steps=16",
                   "--model_conf", f"gmm_file={tmp_path / 'gmm.npz'}",
                   "--model_conf", "anchor_decay_steps=8",
                   "--num_att_plot", "0", "--keep_nbest_models", "1"])
    log = caplog.text
    loss = _epoch_stats(log, "train", "loss_jepa")
    assert len(loss) == 4, log[-3000:]
    assert loss[-1] < 0.9 * loss[0] and loss[-1] == min(loss), loss
    std = _epoch_stats(log, "train", "target_std")
    rank = _epoch_stats(log, "train", "target_eff_rank")
    assert min(std) > 0.05 and min(rank) > 1.5, (std, rank)
    assert "COLLAPSE" not in log
    anchor = _epoch_stats(log, "train", "anchor_weight")
    assert anchor[0] > anchor[-1] == pytest.approx(0.01)
    state = torch.load(out / "checkpoint.pth", map_location="cpu", weights_only=False)
    assert int(state["model"]["step"]) == 16  # 4 epochs x 4 batches

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Integration: the tiny codec trains through ESPnet's GANCodecTask + GANTrainer."""

import logging
import re

import soundfile
import torch
import yaml

from espnet_echo.bin import codec_train


def test_codec_trains_through_espnet_gan_trainer_and_generator_loss_falls(
    tmp_path, make_conf, make_speech, caplog
):
    wav = tmp_path / "wav"
    wav.mkdir()
    scp, shape = [], []
    for i in range(4):
        p = wav / f"u{i}.wav"
        x = make_speech(7680, i)
        soundfile.write(p, x, 16000, subtype="PCM_16")
        scp.append(f"u{i} {p}")
        shape.append(f"u{i} {len(x)}")
    (tmp_path / "wav.scp").write_text("\n".join(scp) + "\n")
    (tmp_path / "shape").write_text("\n".join(shape) + "\n")
    conf = {
        "codec": "jepa_fsq",
        "codec_conf": dict(
            make_conf(freeze_encoder=False), lambda_adv=1.0, lambda_feat_match=2.0
        ),
        "optim": "adam", "optim_conf": {"lr": 0.003},
        "optim2": "adam", "optim2_conf": {"lr": 0.0005},
        "generator_first": True,
        "iterator_type": "chunk", "valid_iterator_type": "chunk", "chunk_length": 3840,
        "batch_size": 4, "max_epoch": 3, "num_workers": 0, "seed": 0,
        "best_model_criterion": [["valid", "mel_loss", "min"]],
        "keep_nbest_models": 1, "num_att_plot": 0,
        "use_tensorboard": False, "use_matplotlib": False,
    }
    cfg = tmp_path / "conf.yaml"
    cfg.write_text(yaml.safe_dump(conf))
    data = [f"{tmp_path / 'wav.scp'},audio,sound"]
    caplog.set_level(logging.INFO)
    codec_train.main(
        cmd=["--config", str(cfg), "--output_dir", str(tmp_path / "exp"), "--ngpu", "0",
             "--train_data_path_and_name_and_type", *data,
             "--train_shape_file", str(tmp_path / "shape"),
             "--valid_data_path_and_name_and_type", *data,
             "--valid_shape_file", str(tmp_path / "shape")]
    )
    summaries = [r.getMessage() for r in caplog.records if "epoch results" in r.getMessage()]
    assert len(summaries) == 3
    g_pat = re.compile(r"\[train\].*? generator_loss=([0-9.e+-]+)")
    g_loss = [float(g_pat.search(s).group(1)) for s in summaries]
    d_loss = [re.search(r"\[train\].*? discriminator_loss=([0-9.e+-]+)", s) for s in summaries]
    assert all(d_loss), "the discriminator turn ran"
    assert g_loss[-1] < 0.8 * g_loss[0], g_loss
    # the checkpoint loads with weights_only=True into the codec of the written config
    state = torch.load(tmp_path / "exp" / "3epoch.pth", weights_only=True)
    assert any(k.startswith("codec.generator.fsq.") for k in state)
    assert any(k.startswith("codec.discriminator.") for k in state)

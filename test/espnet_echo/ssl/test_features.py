# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of espnet_echo.ssl.features (a training config's model built through its task)."""

import pytest
import torch

from espnet_echo.ssl.features import (
    build_feature_model,
    config_task,
    parse_task_config,
    read_feature_config,
)
from espnet_echo.ssl.gmm import DiagonalGMM
from espnet_echo.tasks.echo import EchoTask
from espnet_echo.tasks.jepa import JEPATask
from espnet_echo.utils.fileio import DataFileError

BASE = """frontend: default
frontend_conf: {n_fft: 256, hop_length: 128, n_mels: 8}
encoder: echo_vit
encoder_conf: {output_size: 8, attention_heads: 2, linear_units: 16, num_blocks: 1}
"""


def _config(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_task_is_chosen_by_the_config_keys():
    assert config_task({"frontend": "default", "encoder": "echo_vit"}) is JEPATask
    assert config_task({"encoder": "echo_vit", "predictor_conf": {}}) is JEPATask
    assert config_task({"encoder": "echo_vit", "diar_head": "eend"}) is EchoTask
    assert config_task({"encoder": "echo_vit", "bogus": 1}) is EchoTask


def test_parse_fills_task_defaults_and_rejects_unknown_keys(tmp_path):
    args = parse_task_config(JEPATask, _config(tmp_path, BASE))
    assert args.frontend_conf == {"n_fft": 256, "hop_length": 128, "n_mels": 8}
    assert args.normalize == "utterance_mvn"  # the task's default, as in training
    assert args.predictor_conf["num_blocks"] == 2
    bad = _config(tmp_path, BASE + "bogus: 1\n", "bad.yaml")
    with pytest.raises(DataFileError, match=f"{bad}: EchoTask: unrecognized arguments: "
                       "bogus"):
        parse_task_config(EchoTask, bad)


def test_gmm_anchor_is_left_out(tmp_path):
    text = BASE + "model_conf: {gmm_file: not/there.npz, anchor_decay_steps: 10}\n"
    config = _config(tmp_path, text)
    model, args = build_feature_model(config, read_feature_config(config))
    assert type(model).__name__ == "ESPnetJEPAModel" and model.gmm is None
    assert args.model_conf == {"gmm_file": None, "anchor_decay_steps": 10}
    assert not model.training and model.normalize is None
    feats, lens = model.frontend(torch.zeros(1, 1280), torch.tensor([1280]))
    assert feats.shape[-1] == 8

    gmm = DiagonalGMM.fit(torch.randn(50, 8), 2, num_iters=2)
    gmm.save(tmp_path / "gmm.npz")
    config = _config(tmp_path, BASE + f"model_conf: {{gmm_file: {tmp_path / 'gmm.npz'}}}\n")
    model, _ = build_feature_model(config, read_feature_config(config))
    assert model.gmm is None  # not part of the features, even when the file exists


def test_normalize_and_token_list_options(tmp_path):
    config = _config(tmp_path, BASE + "diar_head: eend\nsep_head: null\nasr_head: null\n")
    model, args = build_feature_model(
        config, read_feature_config(config), "utterance_mvn", {"norm_vars": True}
    )
    assert type(model).__name__ == "ESPnetEchoModel"
    assert type(model.normalize).__name__ == "UtteranceMVN" and model.normalize.norm_vars
    assert args.token_list is None  # no ASR head: no token list needed

    config = _config(tmp_path, BASE + "asr_head: multispkr\n", "asr.yaml")
    tokens = _config(tmp_path, "<blank>\n<unk>\na\n<sos/eos>\n", "tokens.txt")
    _, args = build_feature_model(config, read_feature_config(config), token_list=tokens)
    assert args.token_list == ["<blank>", "<unk>", "a", "<sos/eos>"]
    with pytest.raises(DataFileError, match=f"{config}: EchoTask cannot build the model"):
        build_feature_model(config, read_feature_config(config))


def test_read_feature_config_errors(tmp_path):
    other = _config(tmp_path, "frontend: s3prl\n")
    with pytest.raises(DataFileError, match=f"{other}: needs 'frontend: default' \\(log-mel\\)"
                       ", found 's3prl'"):
        read_feature_config(other)
    broken = _config(tmp_path, "frontend: [default\n", "broken.yaml")
    with pytest.raises(DataFileError, match=f"{broken}: cannot read the config"):
        read_feature_config(broken)
    with pytest.raises(DataFileError, match="found None"):
        read_feature_config(_config(tmp_path, "- a\n", "list.yaml"))

import argparse

import pytest
import torch

from espnet_echo.encoder.echo_vit import EchoViTEncoder
from espnet_echo.tasks import common
from espnet_echo.tasks.echo import EchoTask
from espnet_echo.tasks.jepa import JEPATask

STACK = ["--frontend_conf", "n_fft=128", "--frontend_conf", "hop_length=64",
         "--frontend_conf", "n_mels=16", "--encoder_conf", "output_size=32",
         "--encoder_conf", "num_blocks=1", "--encoder_conf", "attention_heads=2",
         "--encoder_conf", "linear_units=32"]


def test_both_tasks_share_the_stack_options_and_defaults():
    echo = vars(EchoTask.get_parser().parse_args([]))
    jepa = vars(JEPATask.get_parser().parse_args([]))
    for name in ("frontend", "specaug", "normalize", "encoder", "init", "input_size"):
        assert echo[name] == jepa[name], name
        if name not in ("init", "input_size"):
            assert echo[f"{name}_conf"] == jepa[f"{name}_conf"] == {}, name
    assert (echo["frontend"], echo["normalize"], echo["encoder"]) == (
        "default", "utterance_mvn", "echo_vit"
    )
    assert echo["specaug"] is None and echo["init"] is None
    # the same ClassChoices objects (registry insertions reach both tasks)
    for a, b in zip(EchoTask.class_choices_list, JEPATask.class_choices_list):
        assert a is b


@pytest.mark.parametrize("task", [EchoTask, JEPATask])
def test_build_encoder_stack(task):
    args = task.get_parser().parse_args(STACK + ["--specaug", "specaug",
                                                 "--specaug_conf", "apply_time_warp=false",
                                                 "--specaug_conf", "time_mask_width_range=2"])
    stack = common.build_encoder_stack(args)
    assert stack.input_size == 16 and stack.hop_length == 64
    assert isinstance(stack.encoder, EchoViTEncoder) and stack.subsampling == 4
    assert stack.frame_shift == 256 and stack.specaug is not None
    assert type(stack.normalize).__name__ == "UtteranceMVN"


def test_input_size_drops_the_frontend():
    args = EchoTask.get_parser().parse_args(STACK + ["--input_size", "20",
                                                     "--normalize", "none"])
    stack = common.build_encoder_stack(args)
    assert stack.frontend is None and stack.normalize is None
    assert stack.input_size == 20 and stack.hop_length == 1 and stack.frame_shift == 4
    assert args.frontend is None and args.frontend_conf == {}  # the config says so


def test_encoder_subsampling():
    class NoFactor(torch.nn.Module):
        pass

    assert common.encoder_subsampling(NoFactor(), {"input_layer": "conv2d6"}) == 6
    assert common.encoder_subsampling(NoFactor(), {}) == 4  # ESPnet's default conv2d
    with pytest.raises(ValueError, match="input_layer='conv9'"):
        common.encoder_subsampling(NoFactor(), {"input_layer": "conv9"})
    enc = EchoViTEncoder(input_size=16, output_size=32, num_blocks=1, attention_heads=2,
                         linear_units=32)
    assert common.encoder_subsampling(enc, {"input_layer": "conv2d6"}) == 4


def test_initialize_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    before = model[0].weight.clone()
    common.initialize_model(model, argparse.Namespace(init=None))
    assert torch.equal(model[0].weight, before)
    common.initialize_model(model, argparse.Namespace(init="xavier_uniform"))
    assert not torch.equal(model[0].weight, before) and (model[0].bias == 0).all()


def test_build_model_names_the_config_of_a_bad_option():
    from espnet_echo.tasks.common import names_config_on_error

    class Task:
        @classmethod
        @names_config_on_error
        def build_model(cls, args):
            return torch.nn.Linear(**args.linear_conf)

    bad = argparse.Namespace(config="conf/x.yaml", linear_conf={"in_feature": 3})
    with pytest.raises(ValueError, match=r"^conf/x.yaml: .*unexpected keyword argument 'in_feature'"):
        Task.build_model(bad)
    missing = argparse.Namespace(config=None, linear_conf={"in_features": 3})
    with pytest.raises(ValueError, match=r"^the model's config: .*required positional"):
        Task.build_model(missing)
    ok = argparse.Namespace(config=None, linear_conf={"in_features": 3, "out_features": 2})
    assert Task.build_model(ok).out_features == 2

    class Other:
        @classmethod
        @names_config_on_error
        def build_model(cls, args):
            return len(3)  # an unrelated TypeError is not about the config

    with pytest.raises(TypeError):
        Other.build_model(ok)


def test_jepa_task_names_the_config_of_a_misspelt_option(tmp_path):
    from espnet_echo.tasks.jepa import JEPATask

    cfg = tmp_path / "pretrain.yaml"
    cfg.write_text(
        "input_size: 8\nfrontend: null\nencoder: echo_vit\n"
        "encoder_conf: {output_size: 16, attention_heads: 2, linear_units: 32, "
        "num_blocks: 1, patch_frames: 4, patch_stride: 4, dropuot_rate: 0.0}\n"
    )
    args = JEPATask.get_parser().parse_args(["--config", str(cfg)])
    with pytest.raises(ValueError, match=f"^{cfg}: .*dropuot_rate"):
        JEPATask.build_model(args)


def _resume_args(tmp_path, **over):
    args = EchoTask.get_parser().parse_args(STACK + ["--output_dir", str(tmp_path)])
    args.resume = True
    for k, v in over.items():
        setattr(args, k, v)
    return args


def test_resume_refuses_a_checkpoint_of_another_architecture(tmp_path):
    import yaml

    old = _resume_args(tmp_path)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(vars(old)))
    (tmp_path / "checkpoint.pth").write_bytes(b"")
    common.check_resume_config(_resume_args(tmp_path))  # same architecture: fine
    common.check_resume_config(_resume_args(tmp_path, max_epoch=99))  # not architecture
    bad = _resume_args(tmp_path, config="conf/new.yaml",
                       encoder_conf={**old.encoder_conf, "num_blocks": 2})
    with pytest.raises(ValueError) as e:
        common.check_resume_config(bad)
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path / 'checkpoint.pth'}: cannot resume")
    assert str(tmp_path / "config.yaml") in msg and "conf/new.yaml" in msg
    assert "encoder_conf" in msg
    # not resuming, or nothing to resume: no check
    common.check_resume_config(_resume_args(tmp_path, resume=False, encoder_conf={}))
    (tmp_path / "checkpoint.pth").unlink()
    common.check_resume_config(bad)
    # input_size: the written config has no frontend, as build_encoder_stack writes it
    (tmp_path / "checkpoint.pth").write_bytes(b"")
    feats = _resume_args(tmp_path, input_size=16)
    written = dict(vars(feats), frontend=None, frontend_conf={})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(written))
    common.check_resume_config(_resume_args(tmp_path, input_size=16))
    (tmp_path / "config.yaml").write_text("a: [\n")
    with pytest.raises(ValueError, match="config.yaml: cannot read"):
        common.check_resume_config(feats)

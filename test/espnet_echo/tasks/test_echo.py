import argparse

import pytest
import yaml

from espnet_echo.data.contract import MAX_SPK
from espnet_echo.tasks.echo import EchoTask

TINY = [
    "--frontend_conf", "n_fft=128", "--frontend_conf", "hop_length=64",
    "--frontend_conf", "n_mels=16",
    "--encoder", "echo_vit", "--encoder_conf", "output_size=32",
    "--encoder_conf", "num_blocks=2", "--encoder_conf", "attention_heads=2",
    "--encoder_conf", "linear_units=32",
    "--sep_head_conf", "enc_channels=16", "--sep_head_conf", "tcn_hidden=32",
    "--sep_head_conf", "tcn_bottleneck=16", "--sep_head_conf", "tcn_layers=2",
    "--sep_head_conf", "tcn_stacks=1",
    "--asr_head_conf", "linear_units=32", "--asr_head_conf", "attention_heads=2",
]


@pytest.fixture
def token_list(tmp_path):
    path = tmp_path / "tokens.txt"
    path.write_text("\n".join(["<blank>", "<unk>", "A", "B", "<space>", "<sos/eos>"]) + "\n")
    return str(path)


def test_parser_and_help():
    parser = EchoTask.get_parser()
    assert isinstance(parser, argparse.ArgumentParser)
    with pytest.raises(SystemExit):
        EchoTask.main(cmd=["--help"])
    with pytest.raises(SystemExit):
        EchoTask.main(cmd=["--print_config"])


def test_print_config_round_trip(tmp_path):
    parser = EchoTask.get_parser()
    config = tmp_path / "config.yaml"
    with open(config, "w") as f:
        EchoTask.print_config(f)
    args = parser.parse_args(["--config", str(config)])
    assert args.encoder == "echo_vit" and args.diar_head == "eend"


def test_dry_run_config_rebuilds_model(tmp_path, token_list):
    out = tmp_path / "exp"
    EchoTask.main(cmd=["--dry_run", "true", "--output_dir", str(out),
                       "--token_list", token_list, "--token_type", "char", *TINY])
    conf = yaml.safe_load((out / "config.yaml").read_text())
    assert conf["token_list"][2] == "A"  # inlined: the config is portable
    model, _ = EchoTask.build_model_from_file(out / "config.yaml", None, "cpu")
    assert sorted(model.heads) == ["asr", "diar", "sep"]
    assert model.frame_shift == 64 * 4


def test_heads_can_be_disabled(tmp_path):
    EchoTask.main(cmd=["--dry_run", "true", "--output_dir", str(tmp_path),
                       "--asr_head", "none", "--sep_head", "none", *TINY])
    model, _ = EchoTask.build_model_from_file(tmp_path / "config.yaml", None, "cpu")
    assert list(model.heads) == ["diar"]


def test_asr_head_without_token_list_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="token_list"):
        EchoTask.main(cmd=["--dry_run", "true", "--output_dir", str(tmp_path), *TINY])


def test_unknown_encoder_is_rejected(tmp_path):
    with pytest.raises(SystemExit):
        EchoTask.main(cmd=["--dry_run", "true", "--output_dir", str(tmp_path),
                           "--encoder", "no_such_encoder"])


def test_data_missing_head_labels_is_an_error(tmp_path, token_list):
    wav = tmp_path / "wav.scp"
    wav.write_text("u1 a.wav\n")
    with pytest.raises(ValueError, match=r"--diar_head eend needs the data names \['spk_labels'\]"):
        EchoTask.main(cmd=["--output_dir", str(tmp_path / "o"), "--token_list", token_list,
                           "--train_data_path_and_name_and_type", f"{wav},speech,sound",
                           "--valid_data_path_and_name_and_type", f"{wav},speech,sound",
                           "--train_shape_file", str(wav), "--valid_shape_file", str(wav),
                           *TINY])


def test_bad_num_spk(tmp_path):
    with pytest.raises(ValueError, match="num_spk"):
        EchoTask.main(cmd=["--dry_run", "true", "--output_dir", str(tmp_path),
                           "--num_spk", "7", "--asr_head", "none", *TINY])


def test_mismatched_head_dims_are_rejected(tmp_path):
    with pytest.raises(Exception, match="encoder_output_size"):
        EchoTask.main(cmd=["--dry_run", "true", "--output_dir", str(tmp_path),
                           "--asr_head", "none", "--diar_head_conf",
                           "encoder_output_size=99", *TINY])


def _train_with(tmp_path, token_list, data, *extra):
    """EchoTask.main on a one-line wav.scp listed under the given data names."""
    wav = tmp_path / "wav.scp"
    wav.write_text("u1 a.wav\n")
    triples = []
    for name in data:
        triples += ["--train_data_path_and_name_and_type", f"{wav},{name},sound"]
    EchoTask.main(cmd=["--output_dir", str(tmp_path / "o"), "--token_list", token_list,
                       *triples,
                       "--valid_data_path_and_name_and_type", f"{wav},speech,sound",
                       "--train_shape_file", str(wav), "--valid_shape_file", str(wav),
                       *TINY, *extra])


@pytest.mark.parametrize(
    "data, extra, match",
    [
        (["speech", "spk_labels"], [],
         r"--sep_head tasnet needs the data names \['speech_ref', 'num_spk'\]"),
        (["speech", "spk_labels", "speech_ref", "num_spk", "text_spk1"],
         ["--num_spk", "2"], r"--asr_head multispkr needs the data names \['text_spk2'\]"),
    ],
)
def test_data_check_reads_the_heads_declarations(tmp_path, token_list, data, extra, match):
    with pytest.raises(ValueError, match=match):
        _train_with(tmp_path, token_list, data, *extra)


def test_optional_data_names_come_from_the_heads():
    names = EchoTask.optional_data_names()
    assert set(names) == {"spk_labels", "speech_ref", "num_spk", "spk_ids",
                          *(f"text_spk{n}" for n in range(1, MAX_SPK + 1))}
    assert MAX_SPK == 6
    assert EchoTask.required_data_names() == ("speech",)


def test_task_sets_the_declared_build_args(tmp_path, token_list):
    args = EchoTask.get_parser().parse_args(
        ["--token_list", token_list, "--num_spk", "2", *TINY]
    )
    model = EchoTask.build_model(args)
    assert {h.num_spk for h in model.heads.values()} == {2}
    assert {h.encoder_output_size for h in model.heads.values()} == {32}
    assert model.heads["asr"].vocab_size == 6 and model.heads["asr"].token_list[2] == "A"
    args = EchoTask.get_parser().parse_args(
        ["--token_list", token_list, "--asr_head_conf", "vocab_size=9", *TINY]
    )
    with pytest.raises(ValueError, match="vocab_size=9 does not match"):
        EchoTask.build_model(args)

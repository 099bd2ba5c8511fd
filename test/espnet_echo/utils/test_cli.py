import argparse
import logging
import re

import pytest

from espnet_echo.utils.cli import (
    LOG_FORMAT,
    add_log_level_argument,
    exit_on_error,
    load_flag_config,
    parse_args_with_config,
    setup_logging,
)


def make_parser():
    parser = argparse.ArgumentParser()
    add_log_level_argument(parser)
    return parser


def test_log_level_default_and_case_insensitive():
    assert make_parser().parse_args([]).log_level == "INFO"
    assert make_parser().parse_args(["--log_level", "debug"]).log_level == "DEBUG"


def test_log_level_rejects_unknown(capsys):
    with pytest.raises(SystemExit):
        make_parser().parse_args(["--log_level", "chatty"])
    assert "invalid choice" in capsys.readouterr().err


def test_setup_logging_sets_level_and_format(monkeypatch):
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    setup_logging("WARNING")
    assert root.level == logging.WARNING
    assert root.handlers[0].formatter._fmt == LOG_FORMAT


def test_exit_on_error_turns_expected_errors_into_one_line():
    with pytest.raises(SystemExit) as e:
        with exit_on_error("tool", (KeyError, ValueError)):
            raise ValueError("data.txt:3: bad line")
    assert e.value.code == "tool: error: data.txt:3: bad line"
    with pytest.raises(TypeError):  # not an expected error: the traceback stays
        with exit_on_error("tool"):
            raise TypeError("bug")
    with exit_on_error("tool"):
        pass


def flag_parser():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=None)
    parser.add_argument("--num", type=int, default=1)
    parser.add_argument("--mode", choices=["a", "b"], default="a")
    parser.add_argument("--pair", type=float, nargs=2, default=[0.0, 1.0])
    parser.add_argument("--names", nargs="+", default=None)
    return parser


def test_flag_config_values_are_checked_like_flags(tmp_path):
    conf = tmp_path / "c.yaml"
    conf.write_text("num: '3'\nmode: b\npair: [2, 3]\nnames: null\n")
    assert load_flag_config(str(conf), flag_parser()) == {
        "num": 3, "mode": "b", "pair": [2.0, 3.0], "names": None
    }
    conf.write_text("")
    assert load_flag_config(str(conf), flag_parser()) == {}
    for text, message in (
        ("nmu: 3\n", "unknown key 'nmu' (known: mode, names, num, pair)"),
        ("mode: c\n", "key 'mode': 'c' is not one of ['a', 'b']"),
        ("pair: 2\n", "key 'pair': expected a list, got 2"),
        ("pair: [1, 2, 3]\n", "key 'pair': expected 2 values, got 3"),
        ("names: []\n", "key 'names': expected at least one value"),
        ("num: true\n", "key 'num': bad value True"),
        ("- a\n", "config must be a mapping of flag names to values"),
        ("num: [1\n", "cannot read config"),
    ):
        conf.write_text(text)
        with pytest.raises(ValueError, match=re.escape(f"{conf}: {message}")):
            load_flag_config(str(conf), flag_parser())


def test_parse_args_with_config(tmp_path, capsys):
    conf = tmp_path / "c.yaml"
    conf.write_text("num: 3\nmode: b\n")
    args = parse_args_with_config(flag_parser(), ["--config", str(conf), "--num", "5"])
    assert (args.num, args.mode, args.pair) == (5, "b", [0.0, 1.0])  # the flag beats YAML
    assert parse_args_with_config(flag_parser(), []).num == 1
    conf.write_text("num: x\n")
    with pytest.raises(SystemExit) as e:
        parse_args_with_config(flag_parser(), ["--config", str(conf)])
    assert e.value.code == 2 and "key 'num': invalid literal" in capsys.readouterr().err

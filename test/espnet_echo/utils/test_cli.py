import argparse
import logging

import pytest

from espnet_echo.utils.cli import LOG_FORMAT, add_log_level_argument, setup_logging


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

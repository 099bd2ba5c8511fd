# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Logging options shared by the ``espnet_echo.bin`` command-line tools."""

import argparse
import logging

LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
LOG_FORMAT = "%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"


def add_log_level_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--log_level`` (case-insensitive, default INFO) to ``parser``."""
    parser.add_argument(
        "--log_level", type=lambda x: x.upper(), default="INFO", choices=LOG_LEVELS,
        help="Log level",
    )


def setup_logging(level: str) -> None:
    """Configure the root logger with ESPnet's message format."""
    logging.basicConfig(level=level, format=LOG_FORMAT)

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Data dirs of the espnet-echo contract: reading and validation."""

from espnet_echo.data.datadir import DataDir, EspnetRttm, RttmSegment, load_data_dir

__all__ = ["DataDir", "EspnetRttm", "RttmSegment", "load_data_dir"]

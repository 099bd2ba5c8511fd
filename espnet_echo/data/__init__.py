# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Data dirs: the one reader (contract + Kaldi/ESPnet conventions), RTTM I/O, labels.

* :mod:`espnet_echo.data.contract`: ``MAX_SPK`` and the other contract constants;
* :mod:`espnet_echo.data.datadir`: :func:`load_data_dir`, :class:`DataDir`;
* :mod:`espnet_echo.data.scp`: audio entries (paths, pipes, arks);
* :mod:`espnet_echo.data.rttm`: the RTTM/UEM readers and writers;
* :mod:`espnet_echo.data.labels`: time labels through cut and resampling;
* :mod:`espnet_echo.data.format`: recipe stage 2 (``format_data``).
"""

from espnet_echo.data.contract import DEFAULT_FS, MAX_SPK
from espnet_echo.data.datadir import (
    DataDir,
    EspnetRttm,
    RttmSegment,
    Segment,
    UttLabels,
    load_data_dir,
)

__all__ = [
    "DEFAULT_FS", "MAX_SPK", "DataDir", "EspnetRttm", "RttmSegment", "Segment", "UttLabels",
    "load_data_dir",
]

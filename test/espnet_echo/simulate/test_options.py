# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of espnet_echo.simulate.options (command-line options -> CorpusConfig)."""

from espnet_echo.bin.simulate import get_parser
from espnet_echo.simulate.corpus import CorpusConfig
from espnet_echo.simulate.mixture import MixConfig
from espnet_echo.simulate.options import MIX_KEYS, config_from_args


def test_defaults_give_the_default_config():
    assert config_from_args(get_parser().parse_args([])) == CorpusConfig(cache_dir=None)


def test_flags_reach_the_nested_config():
    args = get_parser().parse_args([
        "--num_train", "7", "--engines", "flite", "--split_fractions", "0.5", "0.3", "0.2",
        "--snr_range", "20", "30", "--length_mode", "min", "--spk_weights", "1", "2", "1",
    ])
    config = config_from_args(args)
    assert config.num_train == 7 and config.engines == ("flite",)
    assert config.split_fractions == (0.5, 0.3, 0.2) and config.spk_weights == [1, 2, 1]
    assert config.mix.snr_range == (20.0, 30.0) and config.mix.length_mode == "min"
    assert set(MIX_KEYS) <= set(MixConfig.__dataclass_fields__)

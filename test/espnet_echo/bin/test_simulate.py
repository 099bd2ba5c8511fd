# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""CLI of espnet_echo.bin.simulate: conversation and probe flags, errors, a tiny run.

The mixture flags and the YAML config are tested in test/espnet_echo/simulate.
"""

import pytest

from espnet_echo.bin.simulate import get_parser, main
from espnet_echo.data.contract import MAX_SPK
from espnet_echo.simulate.conversation import ConvConfig
from espnet_echo.simulate.options import CONV_KEYS, config_from_args
from espnet_echo.utils.fileio import read_kaldi_map

BIBLE = "Gen1:1-20:18"


def test_conversation_flags_reach_the_config():
    config = config_from_args(get_parser().parse_args([
        "--num_test_conv", "3", "--conv_min_sec", "20", "--conv_max_sec", "40",
        "--conv_min_spk", "3", "--conv_max_spk", "4", "--conv_overlap_range", "0.1", "0.3",
        "--conv_pause_range", "0.2", "0.5", "--conv_snr_range", "5", "15",
        "--conv_max_turn_sentences", "2", "--num_probe_sentences", "12",
    ]))
    assert config.conv == ConvConfig(
        num_test_conv=3, conv_min_sec=20.0, conv_max_sec=40.0, conv_min_spk=3,
        conv_max_spk=4, conv_overlap_range=(0.1, 0.3), conv_pause_range=(0.2, 0.5),
        conv_snr_range=(5.0, 15.0), conv_max_turn_sentences=2,
    )
    assert config.num_probe_sentences == 12
    assert set(CONV_KEYS) == set(ConvConfig.__dataclass_fields__)
    # off by default: the mixtures-only corpus of before
    default = config_from_args(get_parser().parse_args([]))
    assert default.conv.num_test_conv == 0 and default.num_probe_sentences == 0


def test_help_names_the_limits(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--num_test_conv" in out and "--num_probe_sentences" in out
    assert f"(<= {MAX_SPK} and <= the base voices of the test split)" in out
    assert f"Most speakers per mixture (<= {MAX_SPK})" in out


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--conv_min_sec", "200", "--conv_max_sec", "100"], "conv_min_sec <= conv_max_sec"),
        (["--conv_max_spk", str(MAX_SPK + 1)], f"conv_max_spk <= {MAX_SPK} (MAX_SPK)"),
        (["--conv_overlap_range", "0.2", "0.9"], "conv_overlap_range must be two numbers"),
        (["--num_probe_sentences", "-2"], "num_probe_sentences must be >= 0"),
        (["--max_spk", str(MAX_SPK + 1)], f"max_spk <= {MAX_SPK}"),
    ],
)
def test_bad_options_exit_1_with_the_reason(tmp_path, capsys, flags, message):
    rc = main(["--out_dir", str(tmp_path / "d"), "--wav_dir", str(tmp_path / "w"), *flags])
    assert rc == 1
    err = capsys.readouterr().err
    assert err.startswith("simulate: error: ") and message in err
    assert not (tmp_path / "d").exists()  # nothing written


def test_tiny_conversation_and_probe_run(tmp_path, capsys):
    rc = main([
        "--out_dir", str(tmp_path / "data"), "--wav_dir", str(tmp_path / "wav"),
        "--num_train", "0", "--num_dev", "0", "--num_test", "0", "--utts_per_spk", "2",
        "--bible_range", BIBLE, "--num_test_conv", "1", "--conv_min_sec", "20",
        "--conv_max_sec", "20", "--conv_min_spk", "2", "--conv_max_spk", "2",
        "--num_probe_sentences", "1", "--nj", "1", "--log_level", "WARNING",
    ])
    assert rc == 0
    out = capsys.readouterr().out
    assert "test_conv:      1 mixtures" in out and "overlap share" in out
    assert "probe:     21 mixtures" in out  # 1 sentence x 21 test speakers
    conv = tmp_path / "data" / "test_conv"
    assert read_kaldi_map(conv / "utt2num_spk") == {"test_conv_mix000000": "2"}
    assert read_kaldi_map(conv / "utt2num_samples") == {"test_conv_mix000000": "320000"}
    assert set(read_kaldi_map(conv / "utt2overlap")) == {"test_conv_mix000000"}
    assert not (tmp_path / "data" / "train").exists()

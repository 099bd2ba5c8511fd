import subprocess
import sys

import pytest

from espnet_echo.bin import config_get
from espnet_echo.utils.config import ConfigError, config_value, format_value, load_config

CONF = """\
encoder: echo_vit
encoder_conf:
    output_size: 64
    dropout_rate: 0.1
model_conf:
    gmm_file: exp/gmm/gmm.npz
    extract_feats_in_collect_stats: false
specaug: null
init_param:
-   exp/jepa/latest.pth:target_encoder:encoder
-   exp/other.pth
"""


@pytest.fixture
def conf(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text(CONF)
    return path


def test_nested_values_and_unset_keys(conf):
    c = load_config(conf)
    assert config_value(c, ["model_conf", "gmm_file"]) == "exp/gmm/gmm.npz"
    assert config_value(c, ["encoder_conf", "output_size"]) == 64
    assert config_value(c, ["model_conf", "missing"]) is None
    assert config_value(c, ["missing", "gmm_file"]) is None
    # through a null or a scalar: unset, not an error
    assert config_value(c, ["specaug", "num_freq_mask"]) is None
    assert config_value(c, ["encoder", "x"]) is None


def test_format_value_shell_text():
    assert format_value(None) == ""
    assert format_value(False) == "false" and format_value(True) == "true"
    assert format_value(0.1) == "0.1" and format_value(64) == "64"
    assert format_value(["a:b:c", "d"]) == "a:b:c\nd"
    assert format_value([]) == ""
    with pytest.raises(ConfigError, match="is a dict; name a key inside it"):
        format_value({"a": 1}, where="c.yaml: encoder_conf")
    with pytest.raises(ConfigError, match=r"x\[1\].*dict"):
        format_value([1, {"a": 1}], where="x")
    with pytest.raises(ConfigError, match="multi-line"):
        format_value("a\nb")


def test_load_config_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: config not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: invalid YAML"):
        load_config(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="list.yaml: expected a mapping"):
        load_config(listing)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_config(empty) == {}


def test_safe_load_refuses_python_tags(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("a: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(evil)


def test_json_reads_as_yaml(tmp_path):
    info = tmp_path / "info.json"
    info.write_text('{"rtf": 0.25, "audio_sec": 11.5, "num_utts": 4}')
    assert config_value(load_config(info), ["rtf"]) == 0.25


def test_cli_prints_values(conf, capsys):
    config_get.main([str(conf), "init_param"])
    out = capsys.readouterr().out
    assert out == "exp/jepa/latest.pth:target_encoder:encoder\nexp/other.pth\n"
    config_get.main([str(conf), "model_conf", "extract_feats_in_collect_stats"])
    assert capsys.readouterr().out == "false\n"
    config_get.main([str(conf), "model_conf", "unset"])
    assert capsys.readouterr().out == ""


def test_cli_fails_with_the_reason(conf, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "espnet_echo.bin.config_get", str(conf), "encoder_conf"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert "config_get: error: " in proc.stderr and "encoder_conf: is a dict" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "espnet_echo.bin.config_get", str(tmp_path / "x.yaml"), "a"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 1 and "x.yaml: config not found" in proc.stderr

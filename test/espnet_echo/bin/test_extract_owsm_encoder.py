# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Command line of espnet_echo.bin.extract_owsm_encoder (extraction: utils/test_owsm.py)."""

import pytest

from espnet_echo.bin.extract_owsm_encoder import main


@pytest.mark.parametrize("args, message", [
    ([], "give exactly one of --packed_model and --s2t_model_file"),
    (["--packed_model", "a.zip", "--s2t_model_file", "m.pth"], "give exactly one of"),
    (["--packed_model", "a.zip", "--s2t_train_config", "c.yaml"],
     "--s2t_train_config cannot be combined with --packed_model"),
])
def test_source_options_are_checked(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as e:
        main([*args, "--outdir", str(tmp_path / "out")])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_errors_are_one_line(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("frontend: default\n")
    model = tmp_path / "model.pth"
    model.write_bytes(b"")
    nope = tmp_path / "nope.pth"
    for source, message in (
        (nope, f"{nope}: S2T model file not found"),
        (model, f"{config}: not an ESPnet training config (no 'encoder' key)"),
    ):
        with pytest.raises(SystemExit) as e:  # config.yaml next to the model file
            main(["--s2t_model_file", str(source), "--outdir", str(tmp_path / "out")])
        assert e.value.code == f"extract_owsm_encoder: error: {message}"
    assert not (tmp_path / "out").exists()

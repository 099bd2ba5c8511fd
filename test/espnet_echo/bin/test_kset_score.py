"""kset_score: a K-set model's latent separation metrics on a data dir."""

import json
import sys
from pathlib import Path

import pytest
import torch

from espnet_echo.bin import kset_score
from espnet_echo.tasks.echo import EchoTask

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tasks"))
from test_echo_kset import KSET, _write_data  # noqa: E402


def test_scores_a_data_dir(tmp_path):
    _write_data(tmp_path / "data", [1, 3, 2], seed=0)
    # with the diarization head on: only the K-set head's references are built
    EchoTask.main(cmd=["--dry_run", "true", "--output_dir", str(tmp_path / "exp"), *KSET,
                       "--diar_head", "eend"])
    model, _ = EchoTask.build_model_from_file(tmp_path / "exp" / "config.yaml", None, "cpu")
    model.snapshot_target_encoder()
    torch.save(model.state_dict(), tmp_path / "m.pth")
    kset_score.main(["--train_config", str(tmp_path / "exp" / "config.yaml"),
                     "--model_file", str(tmp_path / "m.pth"),
                     "--data_dir", str(tmp_path / "data"), "--out_dir", str(tmp_path / "o")])
    scores = json.loads((tmp_path / "o" / "scores.json").read_text())
    assert scores["sources"] == 6 and scores["utterances"] == 3
    assert 0.0 <= scores["k_acc"] <= 1.0 and 0.0 <= scores["pit_acc"] <= 1.0
    assert len(list((tmp_path / "o" / "records").glob("*.npz"))) == 3


def test_model_without_kset_head_is_an_error(tmp_path):
    EchoTask.main(cmd=["--dry_run", "true", "--output_dir", str(tmp_path / "exp"),
                       *KSET, "--sep_head", "none", "--diar_head", "eend"])
    torch.save(EchoTask.build_model_from_file(tmp_path / "exp" / "config.yaml", None,
                                              "cpu")[0].state_dict(), tmp_path / "m.pth")
    with pytest.raises(SystemExit, match="no K-set separation head"):
        kset_score.main(["--train_config", str(tmp_path / "exp" / "config.yaml"),
                         "--model_file", str(tmp_path / "m.pth"),
                         "--data_dir", str(tmp_path), "--out_dir", str(tmp_path / "o")])

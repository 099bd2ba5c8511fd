"""The espnet3 recipe egs3/mini_mix/echo1: EchoTask, named by ``task:``, trained by
espnet3's Lightning trainer on a tiny generated corpus (create_dataset, collect_stats,
train), and its output decoded by the egs2 inference tool."""

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "lightning", reason="espnet3's trainer needs the lightning package (espnet[train])"
)

REPO = Path(__file__).resolve().parents[2]


def _tail(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout[-3000:] + proc.stderr[-3000:]


def test_echo_task_trains_through_espnet3(tmp_path):
    recipe = tmp_path / "egs3" / "mini_mix" / "echo1"
    shutil.copytree(REPO / "egs3" / "mini_mix" / "echo1", recipe,
                    ignore=shutil.ignore_patterns("data", "dump", "exp", "__pycache__"))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    proc = subprocess.run(
        [sys.executable, "run.py", "--training_config", "conf/training_ci.yaml"],
        cwd=recipe, env=env, capture_output=True, text=True, timeout=1500,
    )
    assert proc.returncode == 0, _tail(proc)

    # create_dataset: the corpus, its EchoTask dump and the char token list
    for split in ("train", "dev", "test"):
        assert (recipe / "dump/raw" / split / "speech_ref.scp").is_file()
    assert (recipe / "data/token_list/char/tokens.txt").read_text().startswith("<blank>\n")
    # collect_stats: GlobalMVN statistics and shape files keyed by utterance id
    stats = recipe / "exp/stats_fbank"
    assert (stats / "train/feats_stats.npz").is_file()
    train_utts = [x.split()[0]
                  for x in (recipe / "dump/raw/train/wav.scp").read_text().splitlines()]
    shapes = (stats / "train/speech_shape").read_text().splitlines()
    assert sorted(x.split()[0] for x in shapes) == sorted(train_utts)

    # train: 3 epochs; the validation loss and the mean training loss fall
    exp = recipe / "exp/training_ci"
    (metrics,) = exp.glob("csv_logger/version_*/metrics.csv")
    rows = list(csv.DictReader(metrics.open()))
    valid = [float(r["valid/loss"]) for r in rows if r.get("valid/loss")]
    assert len(valid) == 3, valid
    assert valid[-1] < 0.97 * valid[0], valid
    train = {}
    for r in rows:
        if r.get("train/loss"):
            train.setdefault(int(r["epoch"]), []).append(float(r["train/loss"]))
    means = [sum(v) / len(v) for _, v in sorted(train.items())]
    assert len(means) == 3 and means[-1] < means[0], means
    # every head trained: its loss is logged
    for name in ("valid/loss_diar", "valid/loss_sep", "valid/loss_asr"):
        assert any(r.get(name) for r in rows), name

    # espnet3 writes an ESPnet config and an averaged state dict; the egs2 tools use them
    model = exp / "valid.loss.ave_1best.pth"
    assert (exp / "config.yaml").is_file() and model.is_file()
    out = exp / "decode_test"
    proc = subprocess.run(
        [sys.executable, "-m", "espnet_echo.bin.echo_inference",
         "--train_config", str(exp / "config.yaml"), "--model_file", str(model),
         "--data_dir", str(recipe / "dump/raw/test"), "--output_dir", str(out)],
        cwd=recipe, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, _tail(proc)
    test_utts = [x.split()[0]
                 for x in (recipe / "dump/raw/test/wav.scp").read_text().splitlines()]
    decoded = [x.split()[0] for x in (out / "utt2num_spk").read_text().splitlines()]
    assert decoded == test_utts

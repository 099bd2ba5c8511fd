"""Stages 9 (pack) and 10 (publish, dry run only) of the stage driver on a fake trained
model: the packer does not build the model, so any bytes do as the checkpoint."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(REPO / "egs2", root / "egs2", symlinks=True,
                    ignore=shutil.ignore_patterns("data", "dump", "exp", "RESULTS*.md"))
    recipe = root / "egs2" / "mini_mix" / "echo1"
    (recipe / "exp/stats_fbank/train").mkdir(parents=True)
    (recipe / "exp/stats_fbank/train/feats_stats.npz").write_bytes(b"stats")
    model = recipe / "exp/echo_train_echo"
    model.mkdir()
    (model / "config.yaml").write_text(yaml.safe_dump(
        {"normalize": "global_mvn",
         "normalize_conf": {"stats_file": "exp/stats_fbank/train/feats_stats.npz"}}))
    (model / "valid.loss.best.pth").write_bytes(b"weights")
    (recipe / "RESULTS.md").write_text(
        "|system|DER|\n|---|---|\n|echo_train_echo/test|12.5|\n")
    return recipe


def run(recipe: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, VIRTUAL_ENV=sys.prefix,
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    env.pop("HF_TOKEN", None)
    proc = subprocess.run(["./run.sh", *args], cwd=recipe, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_stage_9_packs_each_trained_model_once(recipe):
    proc = run(recipe, "--stage", "9", "--stop_stage", "10")
    out = recipe / "exp/echo_train_echo/packed/echo_train_echo.zip"
    with zipfile.ZipFile(out) as zf:
        assert zf.read("exp/echo_train_echo/valid.loss.best.pth") == b"weights"
        assert zf.read("exp/stats_fbank/train/feats_stats.npz") == b"stats"
        card = zf.read("README.md").decode()
    assert "|echo_train_echo/test|12.5|" in card and "King James" in card
    log = proc.stdout + proc.stderr
    assert "exp/echo_train_ume_ebf is not trained (run stage 6); not packed" in log
    assert "Stage 10: no --hf_repo; nothing published" in log  # the default: no upload
    stamp = out.stat().st_mtime_ns
    proc = run(recipe, "--stage", "9", "--stop_stage", "9")
    assert f"{out.relative_to(recipe)} is up to date; skipped" in proc.stdout + proc.stderr
    assert out.stat().st_mtime_ns == stamp
    (recipe / "RESULTS.md").write_text("|system|DER|\n|---|---|\n|echo_train_echo/test|9.5|\n")
    run(recipe, "--stage", "9", "--stop_stage", "9")
    with zipfile.ZipFile(out) as zf:
        assert "|echo_train_echo/test|9.5|" in zf.read("README.md").decode()


def test_stage_10_dry_run_lists_the_files(recipe, tmp_path, monkeypatch):
    run(recipe, "--stage", "9", "--stop_stage", "9")
    monkeypatch.setenv("HOME", str(tmp_path))  # the unpack cache, not the user's
    proc = run(recipe, "--stage", "10", "--stop_stage", "10",
               "--hf_repo", "me/echo", "--hf_dry_run", "true")
    assert (tmp_path / ".cache/espnet_echo").is_dir()
    assert "dry run: would upload to repo: https://huggingface.co/me/echo" in proc.stdout
    assert "exp/echo_train_echo/valid.loss.best.pth 7 " in proc.stdout
    assert (recipe / "exp/echo_train_echo/log/publish.log").is_file()

"""egs2/voxceleb2mix/echo1 stages 1-2 on a tiny fake VoxCeleb2 tree (synthesised audio).

The tree has VoxCeleb2's layout and metadata: ``<root>/{dev,test}/wav/id#####/<video_id>/
<nnnnn>.wav`` (16 kHz mono, the usual conversion of the m4a release) and ``vox2_meta.csv``
with the released columns (``VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set`` with padding spaces).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet_echo.data.datadir import load_data_dir

REPO = Path(__file__).resolve().parents[2]
SPLITS = ("train", "dev", "test")


def make_fake_voxceleb2(root: Path, num_dev=8, num_test=3, videos=2, utts=2, fs=16000):
    """8 dev + 3 test speakers x 2 videos x 2 utterances of 1 s tone bursts in noise."""
    rng = np.random.default_rng(1)
    rows = ["VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set "]
    n = 0
    for subset, count in (("dev", num_dev), ("test", num_test)):
        for _ in range(count):
            n += 1
            spk = f"id{n * 7:05d}"
            rows.append(f"{spk} ,n{n:06d} ,{'fm'[n % 2]} ,{subset} ")
            for v in range(videos):
                video = root / subset / "wav" / spk / f"{chr(65 + v)}b3_x{n:02d}Qz"
                video.mkdir(parents=True)
                for u in range(utts):
                    t = np.arange(fs) / fs
                    env = (np.sin(2 * np.pi * 2.5 * t + u + v) > -0.2).astype(float)
                    x = 0.3 * env * np.sin(2 * np.pi * (90 + 20 * n) * t)
                    x += 0.002 * rng.standard_normal(fs)
                    soundfile.write(video / f"{u + 1:05d}.wav", x.astype(np.float32), fs,
                                    subtype="PCM_16")
    (root / "vox2_meta.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(REPO / "egs2/TEMPLATE", root / "egs2/TEMPLATE", symlinks=True)
    shutil.copytree(REPO / "egs2/voxceleb2mix", root / "egs2/voxceleb2mix", symlinks=True,
                    ignore=shutil.ignore_patterns("data", "dump", "exp", "RESULTS.md"))
    tree = make_fake_voxceleb2(tmp_path_factory.mktemp("corpus") / "voxceleb2")
    return root / "egs2/voxceleb2mix/echo1", tree


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, VIRTUAL_ENV=sys.prefix, OMP_NUM_THREADS="1",
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    return subprocess.run(["./run.sh", "--nj", "1", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def data_opts(tree: Path, extra: str = "") -> str:
    return (f"--vox2_root {tree} --num_dev_spk 3 --num_train 6 --num_dev 3 --num_test 3 "
            f"--max_spk 2 --nj 1 {extra}")


def test_stages_1_to_4_on_a_fake_tree(recipe):
    cwd, tree = recipe
    proc = run(cwd, "--stage", "1", "--stop_stage", "4", "--num_spk", "2",
               "--train_configs", "conf/train_echo_ci.yaml",
               "--local_data_opts", data_opts(tree))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    speakers = {}
    for split in SPLITS:
        dump = cwd / "dump/raw" / split
        assert (dump / "speech_ref.scp").is_file() and (dump / "espnet_rttm").is_file()
        assert not list(dump.glob("text_spk*"))  # no transcripts, none invented
        ddir = load_data_dir(dump)
        assert len(ddir.utts) == {"train": 6, "dev": 3, "test": 3}[split]
        assert set(ddir.num_spk.values()) <= {1, 2}
        speakers[split] = {s for v in ddir.utt2spks.values() for s in v}
    assert not speakers["train"] & speakers["dev"]
    assert not (speakers["train"] | speakers["dev"]) & speakers["test"]
    test_ids = {f"id{n * 7:05d}" for n in (9, 10, 11)}  # the VoxCeleb2 test speakers
    assert speakers["test"] <= test_ids

    # stage 3 made the speaker head's targets and no token list (there is no text);
    # stage 4 collected statistics without one
    assert "no transcripts (text_spk1): no token list" in proc.stdout
    assert not (cwd / "data/token_list").exists()
    spk_list = (cwd / "data/spk_list/spk_list.txt").read_text().split()
    assert set(spk_list) == speakers["train"]
    ids = [int(i) for line in (cwd / "dump/raw/train/spk_ids").read_text().splitlines()
           for i in line.split()[1:]]
    assert ids and all(0 <= i < len(spk_list) for i in ids)
    assert (cwd / "exp/stats_fbank/train/feats_stats.npz").is_file()


def test_stage_1_missing_corpus_is_one_clear_error(recipe, tmp_path):
    cwd, _ = recipe
    def listing():
        data = cwd / "data"
        return sorted(p.name for p in data.iterdir()) if data.exists() else []

    before = listing()
    missing = tmp_path / "no_voxceleb2"
    proc = run(cwd, "--stage", "1", "--stop_stage", "1",
               "--local_data_opts", data_opts(missing))
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert f"prepare_voxceleb2mix: error: {missing}: VoxCeleb2 root does not exist" in out
    assert "Traceback" not in out
    assert listing() == before

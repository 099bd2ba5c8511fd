# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""egs2/ami/echo1 end to end on a tiny fake AMI tree: prep, format, VBx decode, DER on the UEM.

The tree has AMI's audio layout and AMI-diarization-setup's lists/RTTM/UEM files; the
model is a tiny untrained diar + ArcFace model made in another "recipe" dir whose config
names its stats file relative to that dir (as a real exp dir does), with its own PLDA.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from espnet_echo.bin import fit_plda
from espnet_echo.tasks.echo import EchoTask

REPO = Path(__file__).resolve().parents[2]
FS = 16000
DUR = 24.0
MEETINGS = ("ES2004a", "IS1009b")
# two "speakers" taking turns with one overlap (seconds), as AMI-diarization-setup writes them
TURNS = [(1.0, 4.0, "MEO015"), (5.5, 3.5, "FEE013"), (9.2, 2.8, "MEO015"),
         (12.0, 3.0, "FEE013"), (14.0, 1.5, "MEO015"), (16.0, 3.0, "MEO015"),
         (19.5, 3.5, "FEE013")]
UEMS = {"ES2004a": (2.0, 22.0), "IS1009b": (0.0, DUR)}
TINY = [
    "--frontend_conf", "n_fft=512", "--frontend_conf", "win_length=400",
    "--frontend_conf", "hop_length=160", "--frontend_conf", "n_mels=16",
    "--normalize", "global_mvn", "--normalize_conf", "stats_file=exp/stats/feats_stats.npz",
    "--encoder_conf", "output_size=32", "--encoder_conf", "num_blocks=1",
    "--encoder_conf", "attention_heads=2", "--encoder_conf", "linear_units=32",
    "--sep_head", "none", "--asr_head", "none", "--spk_head", "arcface",
    "--spk_head_conf", "hidden_size=16", "--spk_head_conf", "embed_dim=8",
    "--spk_head_conf", "window_s=0.4", "--spk_head_conf", "hop_s=0.2",
    "--spk_head_conf", "min_solo_frames=2",
]


def _voice(n: int, f0: float, rng) -> np.ndarray:
    t = np.arange(n) / FS
    x = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in (1, 2, 3))
    return 0.1 * x * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(n)


def fake_ami(root: Path) -> tuple:
    ami, setup = root / "amicorpus", root / "AMI-diarization-setup"
    rng = np.random.default_rng(0)
    (setup / "lists").mkdir(parents=True)
    (setup / "lists/test.meetings.txt").write_text("".join(m + "\n" for m in MEETINGS))
    n = int(DUR * FS)
    for m in MEETINGS:
        x = 0.003 * rng.standard_normal(n)
        for start, dur, spk in TURNS:
            a, b = int(start * FS), int((start + dur) * FS)
            x[a:b] += _voice(b - a, 120.0 if spk == "MEO015" else 210.0, rng)
        (ami / m / "audio").mkdir(parents=True)
        soundfile.write(ami / m / "audio" / f"{m}.Mix-Headset.wav", x, FS, subtype="PCM_16")
        for sub, text in (
            (f"only_words/rttms/test/{m}.rttm",
             "".join(f"SPEAKER {m} 1 {s} {d} <NA> <NA> {spk} <NA> <NA>\n"
                     for s, d, spk in TURNS)),
            (f"uems/test/{m}.uem", f"{m} 1 {UEMS[m][0]:.3f} {UEMS[m][1]:.6f}\n"),
        ):
            (setup / sub).parent.mkdir(parents=True, exist_ok=True)
            (setup / sub).write_text(text)
    return ami, setup


def tiny_model(root: Path) -> Path:
    """<root>/exp/tiny: config.yaml (stats file relative to <root>), checkpoint, PLDA."""
    exp = root / "exp" / "tiny"
    exp.mkdir(parents=True)
    (root / "exp/stats").mkdir()
    np.savez(root / "exp/stats/feats_stats.npz", count=np.array(1000.0),
             sum=np.full(16, -5000.0), sum_square=np.full(16, 40000.0))
    (root / "spk_list.txt").write_text("".join(f"v{i}\n" for i in range(6)))
    cwd = os.getcwd()
    os.chdir(root)
    try:
        EchoTask.main(cmd=["--dry_run", "true", "--output_dir", "exp/tiny",
                           "--spk_list", "spk_list.txt", *TINY])
        torch.manual_seed(0)
        model, _ = EchoTask.build_model_from_file(exp / "config.yaml", None, "cpu")
        torch.save(model.state_dict(), exp / "valid.loss.best.pth")
        # the PLDA belongs to the model: fitted on "its training data", not on AMI
        rng = np.random.RandomState(0)
        train = root / "dump/raw/train"
        train.mkdir(parents=True)
        wav, rttm, spks = [], [], []
        for i in range(12):
            utt = f"tr_mix{i:06d}"
            a, b = rng.choice(6, 2, replace=False)
            soundfile.write(train / f"{utt}.wav", rng.randn(44800) * 0.1, FS)
            wav.append(f"{utt} {train / f'{utt}.wav'}")
            rttm += [f"SPEAKER {utt} 1 0.000 1.300 <NA> <NA> v{a} <NA> <NA>",
                     f"SPEAKER {utt} 1 1.200 1.600 <NA> <NA> v{b} <NA> <NA>"]
            spks.append(f"{utt} v{a} v{b}")
        for name, lines in (("wav.scp", wav), ("rttm", rttm), ("utt2spks", spks)):
            (train / name).write_text("\n".join(lines) + "\n")
        fit_plda.main(["--train_config", "exp/tiny/config.yaml",
                       "--model_file", "exp/tiny/valid.loss.best.pth",
                       "--data_dir", "dump/raw/train", "--out", "exp/tiny/plda.npz"])
    finally:
        os.chdir(cwd)
    return exp


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ami")
    shutil.copytree(REPO / "egs2", root / "repo" / "egs2", symlinks=True,
                    ignore=shutil.ignore_patterns("data", "dump", "exp", "RESULTS*.md"))
    ami, setup_root = fake_ami(root / "corpora")
    model = tiny_model(root / "other_recipe")
    return root / "repo/egs2/ami/echo1", ami, setup_root, model


def run(recipe: Path, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, VIRTUAL_ENV=sys.prefix, OMP_NUM_THREADS="1",
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    return subprocess.run(["./run.sh", "--nj", "1", *map(str, args)], cwd=recipe, env=env,
                          capture_output=True, text=True, timeout=600)


def _speech_in_uem(uem) -> float:
    return sum(max(0.0, min(s + d, uem[1]) - max(s, uem[0])) for s, d, _ in TURNS)


def test_prep_decode_and_der_on_the_uem(setup):
    recipe, ami, setup_root, model = setup
    proc = run(recipe, "--ami_root", ami.parent, "--setup_root", setup_root,
               "--model_dir", model, "--test_sets", "test", "--diar_modes", "vbx",
               "--baselines", "", "--inference_args", "--chunk_s 4 --num_threads 1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = recipe / "data/test"
    assert (data / "wav.scp").read_text().split()[::2] == list(MEETINGS)
    assert (data / "uem").read_text().splitlines()[0] == "ES2004a 1 2.000000 22.000000"
    assert not (recipe / "dump/raw/test/speech_ref.scp").exists()  # scoring only: no sources

    dec = recipe / "exp/tiny/decode_test_vbx"
    hyp_files = {line.split()[1] for line in (dec / "rttm").read_text().splitlines()}
    assert hyp_files <= set(MEETINGS)
    scores = json.loads((dec / "score/scores.json").read_text())
    expected = sum(_speech_in_uem(UEMS[m]) for m in MEETINGS)  # DER's denominator: the UEM
    assert [d["collar"] for d in scores["der"]] == [0.0, 0.25]
    der0 = scores["der"][0]
    assert der0["scored_speech_s"] == pytest.approx(expected, abs=0.02)
    assert der0["num_utts"] == 2 and der0["der"] >= 0.0
    assert expected < 2 * sum(d for _, d, _ in TURNS)  # the UEM of ES2004a cuts turns
    assert scores["sisdr"] is None and scores["wer"] is None
    table = (recipe / "RESULTS.md").read_text()
    assert "|tiny+vbx/test|" in table


def test_bad_inputs_stop_with_one_message_and_keep_the_data(setup, tmp_path):
    recipe, ami, setup_root, model = setup
    before = (recipe / "data/test/wav.scp").read_text() if (recipe / "data/test").exists() \
        else None
    proc = run(recipe, "--stop_stage", "1", "--ami_root", tmp_path / "nope",
               "--setup_root", setup_root, "--test_sets", "test")
    assert proc.returncode != 0
    message = f"prepare_ami: error: {tmp_path / 'nope'}: AMI root not found"
    assert message in proc.stderr + proc.stdout
    if before is not None:
        assert (recipe / "data/test/wav.scp").read_text() == before
    proc = run(recipe, "--stage", "7", "--model_dir", tmp_path, "--test_sets", "test")
    assert proc.returncode == 1 and f"{tmp_path}/config.yaml not found" in proc.stdout
    proc = run(recipe, "--stage", "7", "--model_dir", model, "--test_sets", "test",
               "--plda_file", tmp_path / "plda.npz")
    assert proc.returncode == 1 and "vbx needs the model's PLDA" in proc.stdout


def test_help_lists_every_option_with_its_default(setup):
    recipe = setup[0]
    text = (recipe / "run.sh").read_text()
    block = text[text.index("# Options:"):text.index("# End of options")]
    defaults = {m[0]: m[1] if m[1] else m[2]
                for m in re.findall(r'^([a-z_]+)=(?:"([^"]*)"|(\S*))', block, re.M)}
    assert {"ami_root", "setup_root", "model_dir", "plda_file", "collars"} <= set(defaults)
    proc = subprocess.run(["./run.sh", "--help"], cwd=recipe, capture_output=True, text=True)
    assert proc.returncode == 0
    lines = proc.stderr.splitlines()
    for name, value in defaults.items():
        line = next((x for x in lines if x.split()[:1] == [f"--{name}"]), None)
        assert line is not None and line.endswith(f'(default="{value}").'), (name, line)

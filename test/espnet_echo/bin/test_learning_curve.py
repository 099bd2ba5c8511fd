# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""End-to-end tests of espnet_echo.bin.learning_curve on a tiny untrained model."""

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from espnet_echo.bin import learning_curve
from espnet_echo.metrics.curves import learning_curves
from espnet_echo.tasks.echo import EchoTask

FS = 16000
TINY = [
    "--frontend_conf", "n_fft=512", "--frontend_conf", "win_length=400",
    "--frontend_conf", "hop_length=160", "--frontend_conf", "n_mels=16",
    "--encoder_conf", "output_size=32", "--encoder_conf", "num_blocks=1",
    "--encoder_conf", "attention_heads=2", "--encoder_conf", "linear_units=32",
    "--sep_head_conf", "enc_channels=16", "--sep_head_conf", "tcn_hidden=32",
    "--sep_head_conf", "tcn_bottleneck=16", "--sep_head_conf", "tcn_layers=2",
    "--sep_head_conf", "tcn_stacks=1",
    "--asr_head_conf", "linear_units=32", "--asr_head_conf", "attention_heads=2",
    "--asr_head_conf", "decoder_conf.num_blocks=1",
    "--asr_head_conf", "decoder_conf.linear_units=32",
    "--asr_head_conf", "decoder_conf.attention_heads=2",
    "--token_type", "char",
]
# The format of a real espnet2 trainer log, shortened (see test_curves.py).
LOG = """\
[vm] 2026-11-30 04:20:47,266 (trainer:334) INFO: 1/2epoch started
[vm] 2026-11-30 04:21:17,266 (trainer:392) INFO: 1epoch results: [train] loss=83.0, time=28.02 seconds, total_count=3, [valid] diar_der=0.694, diar_spk_count_acc=1.000, sep_si_snr=-24.705, asr_wer=1.000, loss=100.777, time=3.98 seconds, total_count=1
[vm] 2026-11-30 04:21:24,448 (trainer:322) INFO: 2/2epoch started. Estimated time to finish: 37.18 seconds
[vm] 2026-11-30 04:21:47,266 (trainer:392) INFO: 2epoch results: [train] loss=81.3, time=12.3 seconds, total_count=6, [valid] diar_der=0.663, diar_spk_count_acc=0.500, sep_si_snr=-22.142, asr_wer=1.000, loss=98.722, time=3.04 seconds, total_count=2
"""


def _data_dir(root: Path) -> Path:
    """Three 0.5-s mixtures with sources, transcripts, RTTM and K."""
    d = root / "dev"
    (d / "wav").mkdir(parents=True)
    rng = np.random.default_rng(0)
    files = {k: [] for k in ("wav.scp", "spk1.scp", "spk2.scp", "text_spk1", "text_spk2",
                             "utt2num_spk", "rttm")}
    n = FS // 2
    for i, k in enumerate((2, 1, 2)):
        utt = f"dev_mix{i:02d}"
        srcs = []
        for s in range(k):
            x = np.zeros(n)
            a, b = (0, 5000) if s == 0 else (3000, n)
            x[a:b] = rng.normal(scale=0.1, size=b - a)
            srcs.append(x)
            path = d / "wav" / f"{utt}_s{s + 1}.wav"
            soundfile.write(path, x, FS, subtype="FLOAT")
            files[f"spk{s + 1}.scp"].append(f"{utt} {path}")
            files[f"text_spk{s + 1}"].append(f"{utt} {'AB' if s else 'BA'}")
            files["rttm"].append(f"SPEAKER {utt} 1 {a / FS:.3f} {(b - a) / FS:.3f} <NA> "
                                 f"<NA> spk{s} <NA> <NA>")
        path = d / "wav" / f"{utt}.wav"
        soundfile.write(path, sum(srcs) + rng.normal(scale=0.001, size=n), FS,
                        subtype="FLOAT")
        files["wav.scp"].append(f"{utt} {path}")
        files["utt2num_spk"].append(f"{utt} {k}")
    for name, lines in files.items():
        (d / name).write_text("".join(line + "\n" for line in lines))
    return d


def _exp_dir(root: Path, name: str, config: Path, state: dict) -> Path:
    d = root / name
    (d / "log").mkdir(parents=True)
    shutil.copy(config, d / "config.yaml")
    (d / "log" / "train.log").write_text(LOG)
    torch.manual_seed(ord(name[0]))
    for epoch in (1, 2):
        torch.save({k: v + 0.01 * epoch * torch.randn_like(v) if v.is_floating_point()
                    else v for k, v in state.items()}, d / f"{epoch}epoch.pth")
    return d


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("curves")
    tokens = root / "tokens.txt"
    tokens.write_text("\n".join(["<blank>", "<unk>", "<space>", "A", "B", "<sos/eos>"]) + "\n")
    tiny = root / "tiny"
    EchoTask.main(cmd=["--dry_run", "true", "--output_dir", str(tiny),
                       "--token_list", str(tokens), *TINY])
    model, _ = EchoTask.build_model_from_file(tiny / "config.yaml", None, "cpu")
    state = model.state_dict()
    exps = [_exp_dir(root / "exp", n, tiny / "config.yaml", state) for n in ("a", "b")]
    return root, exps, _data_dir(root / "data")


def test_two_models_two_checkpoints(setup, capsys):
    import matplotlib.image

    root, exps, data = setup
    out = root / "curves"
    cmd = ["--exp_dirs", *map(str, exps), "--data_dir", str(data), "--out_dir", str(out),
           "--max_utts", "2", "--num_threads", "1"]
    learning_curve.main(cmd)
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:4] == ["model", "epoch", "steps", "minutes"]
    with open(out / "curves.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["model"], r["epoch"]) for r in rows] == [
        ("a", "1"), ("a", "2"), ("b", "1"), ("b", "2")]
    assert [r["steps"] for r in rows[:2]] == ["3", "6"]
    assert float(rows[0]["minutes"]) == pytest.approx(0.5)
    # each epoch's own start-to-results time (not the checkpointing between epochs)
    assert float(rows[1]["minutes"]) == pytest.approx((30.0 + 22.818) / 60)
    for r in rows:
        # the subset is dev_mix01 (K=1) and dev_mix02 (K=2): no K=3 column
        for col in ("der", "sisdri", "wer", "cpwer", "k_acc", "wer_k1", "cpwer_k2",
                    "sisdri_k1", "sisdri_k2"):
            assert np.isfinite(float(r[col])), (col, r)
        assert r["sisdri_k3"] == ""
        assert r["num_utts"] == "2" and float(r["valid_der"]) > 60
    assert "cpwer_k2" in table.splitlines()[0] and "sisdri_k3" not in table
    assert rows[1]["der"] != rows[3]["der"]  # the models differ
    assert len((out / "data" / "wav.scp").read_text().splitlines()) == 2
    img = matplotlib.image.imread(out / "curves.png")
    assert img.shape[0] > 300 and img.shape[1] > 1000
    assert img[..., :3].std() > 0.01  # not blank
    # a re-run decodes nothing again (the decode's stamp)
    hyp = out / "a" / "1epoch" / "decode" / "rttm"
    before = hyp.stat().st_mtime_ns
    learning_curve.main(cmd)
    assert hyp.stat().st_mtime_ns == before
    # --epochs: only epoch 2 is scored (decodes reused), valid stats of every epoch
    learning_curve.main([*cmd, "--epochs", "2"])
    with open(out / "curves.csv", newline="") as f:
        picked = [(r["model"], r["epoch"]) for r in csv.DictReader(f)]
    assert picked == [("a", "2"), ("b", "2")]
    args = learning_curve.get_parser().parse_args(cmd)
    got, valid = learning_curves([exps[0]], data, out, args, max_utts=2, epochs=[2])
    assert [r["epoch"] for r in got] == [2] and sorted(valid["a"]) == [1, 2]
    assert hyp.stat().st_mtime_ns == before


def test_bad_exp_dirs_exit_with_one_named_error(setup, tmp_path):
    root, exps, data = setup
    base = ["--data_dir", str(data), "--out_dir", str(tmp_path / "out")]
    with pytest.raises(SystemExit, match=r"learning_curve: error: .*nope: experiment dir"):
        learning_curve.main(["--exp_dirs", str(exps[0]), str(tmp_path / "nope"), *base])
    empty = tmp_path / "c"
    shutil.copytree(exps[0], empty)
    for p in empty.glob("*epoch.pth"):
        p.unlink()
    with pytest.raises(SystemExit, match=r"c: no <N>epoch.pth"):
        learning_curve.main(["--exp_dirs", str(empty), *base])
    other = tmp_path / "d"
    shutil.copytree(exps[0], other)
    state = torch.load(other / "1epoch.pth")
    state["encoder.extra.weight"] = torch.zeros(1)
    torch.save(state, other / "1epoch.pth")
    with pytest.raises(SystemExit, match=r"1epoch.pth: cannot be decoded with .*config.yaml"):
        learning_curve.main(["--exp_dirs", str(other), *base])
    # an empty or non-checkpoint <N>epoch.pth: one line naming it, not torch's traceback
    broken = tmp_path / "f"
    shutil.copytree(exps[0], broken)
    for content in (b"", b"not a checkpoint\n"):
        (broken / "1epoch.pth").write_bytes(content)
        with pytest.raises(SystemExit) as e:
            learning_curve.main(["--exp_dirs", str(broken), *base])
        msg = str(e.value.code)
        assert msg.startswith(f"learning_curve: error: {broken / '1epoch.pth'}: not a "
                              "readable PyTorch checkpoint ("), msg
        assert "\n" not in msg
    with pytest.raises(SystemExit, match="needs --plda_data_dir"):
        learning_curve.main(["--exp_dirs", str(exps[0]), "--diar_mode", "vbx", *base])
    # --epochs checked in every dir before anything is decoded
    kept = tmp_path / "e"
    shutil.copytree(exps[0], kept)
    (kept / "1epoch.pth").unlink()
    with pytest.raises(SystemExit, match=r"e: no 1epoch.pth \(--epochs\); the dir has "
                       r"2epoch.pth$"):
        learning_curve.main(["--exp_dirs", str(exps[0]), str(kept), "--epochs", "1", *base])
    assert not (tmp_path / "out" / "a").exists()
    with pytest.raises(SystemExit):  # argparse: not allowed with
        learning_curve.main(["--exp_dirs", str(exps[0]), "--epochs", "1", "--every", "2",
                             *base])


SPK_TINY = [
    "--frontend_conf", "n_fft=512", "--frontend_conf", "win_length=400",
    "--frontend_conf", "hop_length=160", "--frontend_conf", "n_mels=16",
    "--encoder_conf", "output_size=32", "--encoder_conf", "num_blocks=1",
    "--encoder_conf", "attention_heads=2", "--encoder_conf", "linear_units=32",
    "--sep_head", "none", "--asr_head", "none", "--spk_head", "arcface",
    "--spk_head_conf", "hidden_size=16", "--spk_head_conf", "embed_dim=8",
    "--spk_head_conf", "window_s=0.4", "--spk_head_conf", "hop_s=0.2",
    "--spk_head_conf", "min_solo_frames=2",
]


def test_vbx_fits_a_plda_per_checkpoint(tmp_path):
    """diar + spk heads only: DER and K accuracy, no SI-SDRi/WER columns."""
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    (tiny / "spk_list.txt").write_text("".join(f"v{i}\n" for i in range(6)))
    EchoTask.main(cmd=["--dry_run", "true", "--output_dir", str(tiny),
                       "--spk_list", str(tiny / "spk_list.txt"), *SPK_TINY])
    model, _ = EchoTask.build_model_from_file(tiny / "config.yaml", None, "cpu")
    exp = _exp_dir(tmp_path / "exp", "spk", tiny / "config.yaml", model.state_dict())
    rng = np.random.RandomState(0)
    data = tmp_path / "data"
    data.mkdir()
    wav_scp, rttm, spks = [], [], []
    for i in range(12):
        utt = f"tr_mix{i:06d}"
        a, b = rng.choice(6, 2, replace=False)
        soundfile.write(data / f"{utt}.wav", rng.randn(44800) * 0.1, FS)
        wav_scp.append(f"{utt} {data / f'{utt}.wav'}")
        rttm.append(f"SPEAKER {utt} 1 0.000 1.300 <NA> <NA> v{a} <NA> <NA>")
        rttm.append(f"SPEAKER {utt} 1 1.200 1.600 <NA> <NA> v{b} <NA> <NA>")
        spks.append(f"{utt} v{a} v{b}")
    (data / "wav.scp").write_text("\n".join(wav_scp) + "\n")
    (data / "rttm").write_text("\n".join(rttm) + "\n")
    (data / "utt2spks").write_text("\n".join(spks) + "\n")
    out = tmp_path / "curves"
    learning_curve.main([
        "--exp_dirs", str(exp), "--data_dir", str(data), "--out_dir", str(out),
        "--max_utts", "2", "--diar_mode", "vbx", "--plda_data_dir", str(data),
        "--num_threads", "1",
    ])
    assert (out / "spk" / "1epoch" / "plda.npz").is_file()
    assert (out / "spk" / "2epoch" / "plda.npz").is_file()
    with open(out / "curves.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    for r in rows:
        assert np.isfinite(float(r["der"])) and np.isfinite(float(r["k_acc"]))
        assert r["sisdri"] == r["wer"] == r["cpwer"] == ""
        assert r["wer_k1"] == r["cpwer_k2"] == r["sisdri_k2"] == ""  # no ASR/sep head
    assert (out / "curves.png").stat().st_size > 0


def _probe_dir(root: Path) -> Path:
    """3 speakers (pitch) x 2 sentences (on/off pattern), one clean 0.5-s source each."""
    d = root / "probe"
    (d / "wav").mkdir(parents=True)
    t = np.arange(FS // 2) / FS
    lines = {"wav.scp": [], "spk1.scp": [], "utt2spks": [], "text_spk1": [],
             "utt2num_spk": []}
    for i, (spk, f0) in enumerate((("low", 180.0), ("mid", 420.0), ("high", 900.0))):
        for j, text in enumerate(("AB", "BA")):
            utt = f"probe_mix{i * 10 + j:06d}"
            env = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * (2 + 3 * j) * t))
            path = d / "wav" / f"{utt}.wav"
            soundfile.write(path, 0.3 * env * np.sin(2 * np.pi * f0 * t), FS)
            lines["wav.scp"].append(f"{utt} {path}")
            lines["spk1.scp"].append(f"{utt} {path}")
            lines["utt2spks"].append(f"{utt} {spk}")
            lines["text_spk1"].append(f"{utt} {text}")
            lines["utt2num_spk"].append(f"{utt} 1")
    for name, rows in lines.items():
        (d / name).write_text("".join(r + "\n" for r in sorted(rows)))
    return d


@pytest.fixture(scope="module")
def spk_exp(tmp_path_factory):
    """An experiment dir ``spk`` of a tiny diar + speaker-head model (2 checkpoints)."""
    root = tmp_path_factory.mktemp("spk")
    tiny = root / "tiny"
    tiny.mkdir()
    (tiny / "spk_list.txt").write_text("".join(f"v{i}\n" for i in range(6)))
    EchoTask.main(cmd=["--dry_run", "true", "--output_dir", str(tiny),
                       "--spk_list", str(tiny / "spk_list.txt"), *SPK_TINY])
    model, _ = EchoTask.build_model_from_file(tiny / "config.yaml", None, "cpu")
    return _exp_dir(root / "exp", "spk", tiny / "config.yaml", model.state_dict())


def test_probe_columns_cached_and_empty_without_speaker_head(setup, spk_exp, tmp_path,
                                                             capsys):
    import json

    import matplotlib.image

    root, exps, data = setup
    probe = _probe_dir(tmp_path)
    out = tmp_path / "curves"
    cmd = ["--exp_dirs", str(exps[0]), str(spk_exp), "--data_dir", str(data),
           "--out_dir", str(out), "--max_utts", "2", "--num_threads", "1",
           "--probe_data_dir", str(probe)]
    learning_curve.main(cmd)
    table = capsys.readouterr().out.splitlines()
    with open(out / "curves.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["model"], r["epoch"]) for r in rows] == [
        ("a", "1"), ("a", "2"), ("spk", "1"), ("spk", "2")]
    for r in rows[:2]:  # no speaker head: empty cells, no probe file
        assert r["factorisation_gap"] == r["speaker_id"] == "", r
    assert not list((out / "a").glob("*/probe.json"))
    for r, epoch in zip(rows[2:], (1, 2)):
        gap, spk_id = float(r["factorisation_gap"]), float(r["speaker_id"])
        assert -100.0 <= gap <= 100.0 and 0.0 <= spk_id <= 100.0, r
        got = json.loads((out / "spk" / f"{epoch}epoch" / "probe.json").read_text())
        assert got["gap"] == pytest.approx(gap) and got["num_items"] == 6
        assert got["speaker_id_spk"] == pytest.approx(spk_id)
    header = table[0].split()
    assert header[-2:] == ["factorisation_gap", "speaker_id"]
    assert table[1].split()[-2:] == ["-", "-"]  # a, epoch 1
    assert all(c != "-" for c in table[3].split()[-2:])  # spk, epoch 1
    img = matplotlib.image.imread(out / "curves.png")
    assert img[..., :3].std() > 0.01
    # a re-run probes nothing again (the probe's stamp); a stale stamp probes again
    p1, p2 = out / "spk" / "1epoch" / "probe.json", out / "spk" / "2epoch" / "probe.json"
    before = p1.stat().st_mtime_ns, p2.stat().st_mtime_ns
    learning_curve.main(cmd)
    assert (p1.stat().st_mtime_ns, p2.stat().st_mtime_ns) == before
    stale = json.loads(p2.read_text())
    stamp = stale["stamp"]
    stale["stamp"] = dict(stamp, model_file="0" * 64)
    p2.write_text(json.dumps(stale))
    learning_curve.main(cmd)
    assert p1.stat().st_mtime_ns == before[0]
    assert json.loads(p2.read_text())["stamp"] == stamp
    # without --probe_data_dir the columns are empty and left out of the table
    capsys.readouterr()
    learning_curve.main(cmd[:-2])
    assert "speaker_id" not in capsys.readouterr().out
    with open(out / "curves.csv", newline="") as f:
        assert all(r["speaker_id"] == "" for r in csv.DictReader(f))


def test_bad_probe_dir_fails_before_decoding(setup, spk_exp, tmp_path):
    root, exps, data = setup
    base = ["--exp_dirs", str(spk_exp), "--data_dir", str(data),
            "--out_dir", str(tmp_path / "out"), "--num_threads", "1"]
    with pytest.raises(SystemExit, match=r"learning_curve: error: --probe_data_dir: "
                       r".*nope: data dir not found"):
        learning_curve.main([*base, "--probe_data_dir", str(tmp_path / "nope")])
    probe = _probe_dir(tmp_path)
    (probe / "utt2spks").unlink()
    with pytest.raises(SystemExit, match=r"--probe_data_dir: .*probe/utt2spks: file not "
                       r"found"):
        learning_curve.main([*base, "--probe_data_dir", str(probe)])
    (probe / "utt2spks").write_text(
        "".join(f"probe_mix{i:06d} s{i}\n" for i in (0, 1, 10, 11, 20, 21)))
    with pytest.raises(SystemExit, match=r"--probe_data_dir: .*probe: no speaker occurs "
                       r"twice"):
        learning_curve.main([*base, "--probe_data_dir", str(probe)])
    shutil.rmtree(probe)
    probe = _probe_dir(tmp_path)
    (probe / "wav" / "probe_mix000010.wav").unlink()
    with pytest.raises(SystemExit, match=r"--probe_data_dir: .*probe: the source audio "
                       r"of 'probe_mix000010' .* does not exist"):
        learning_curve.main([*base, "--probe_data_dir", str(probe)])
    assert not (tmp_path / "out" / "spk").exists()  # nothing decoded

"""echo_infer on files: the hostile set, long audio, plots, packed models."""

import importlib.util
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from espnet_echo.bin import echo_infer
from espnet_echo.tasks.echo import EchoTask

HERE = Path(__file__).parent


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


hostile = _load("hostile_audio", HERE.parent / "inference" / "hostile_audio.py")
TINY = _load("s2e_tiny", HERE.parent / "inference" / "test_speech2echo.py").TINY


@pytest.fixture(scope="module")
def exp_dir(tmp_path_factory):
    """A tiny model laid out like a recipe's exp dir, its config naming files relative
    to the recipe dir (the token list under data/)."""
    recipe = tmp_path_factory.mktemp("recipe")
    (recipe / "data").mkdir()
    (recipe / "data" / "tokens.txt").write_text(
        "\n".join(["<blank>", "<unk>", "<space>", "A", "B", "<sos/eos>"]) + "\n")
    out = recipe / "exp" / "echo_tiny"
    EchoTask.main(cmd=["--dry_run", "true", "--output_dir", str(out),
                       "--token_list", str(recipe / "data" / "tokens.txt"), *TINY])
    model, _ = EchoTask.build_model_from_file(out / "config.yaml", None, "cpu")
    torch.save(model.state_dict(), out / "valid.loss.best.pth")
    return out


def test_hostile_set_each_file_reported_others_written(exp_dir, tmp_path, capsys):
    cases = hostile.make_hostile_set(tmp_path / "in", min_samples=2 * 640)
    out = tmp_path / "out"
    # an earlier output of a good recording must survive a failing batch
    (out / "silence").mkdir(parents=True)
    (out / "silence" / ".stamp.json").write_text("{}")
    with pytest.raises(SystemExit) as e:
        echo_infer.main([str(tmp_path / "in"), "--model", str(exp_dir), "--output_dir",
                         str(out), "--no_progress", "--chunk_s", "2"])
    assert e.value.code == 1
    err = capsys.readouterr().err
    failed = {line.split(":")[0].strip() for line in err.splitlines()
              if line.startswith("  ")}
    for name, (path, expected) in cases.items():
        if expected.startswith("error:"):
            assert name in failed, name
            line = next(x for x in err.splitlines() if x.startswith(f"  {name}:"))
            assert expected[6:] in line and str(path) in line
            assert not (out / name).exists()
        else:
            assert name not in failed, name
            info = json.loads((out / name / f"{name}.json").read_text())
            assert info["num_spk"] >= 0 and (out / name / f"{name}.rttm").is_file()
    assert json.loads((out / "silence" / "silence.json").read_text())["num_spk"] == 0
    # resampled and downmixed inputs give tracks at the model's rate
    stereo = json.loads((out / "stereo" / "stereo.json").read_text())
    for k in range(stereo["num_spk"]):
        info = soundfile.info(out / "stereo" / f"stereo_spk{k}.wav")
        assert info.samplerate == 16000 and info.channels == 1


def test_long_file_with_plot_and_packed_model(exp_dir, tmp_path, capsys):
    from espnet_echo.inference.model_files import pack_model

    rng = np.random.RandomState(0)
    wav = tmp_path / "meeting take 1.wav"  # a name with spaces
    audio = (rng.randn(16000 * 7) * 0.1).astype(np.float32)
    soundfile.write(wav, np.stack([audio, audio * 0.5], 1), 16000)  # stereo, 7 s
    zip_path = pack_model(exp_dir, tmp_path / "tiny.zip")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    import os

    cwd = os.getcwd()
    os.chdir(elsewhere)  # the model is self-contained: no recipe dir needed
    cmd = [str(wav), "--model", str(zip_path), "--output_dir", "out", "--plot",
           "--chunk_s", "2", "--diar_threshold", "0.0", "--cache_dir",
           str(tmp_path / "cache"), "--no_progress"]
    try:
        echo_infer.main(cmd)
        first = json.loads((elsewhere / "out" / "meeting_take_1" / ".stamp.json").read_text())
        echo_infer.main(cmd)  # a rerun replaces its own earlier output
    finally:
        os.chdir(cwd)
    assert first["input"] == str(wav) and "meeting_take_1.png" in first["outputs"]
    rec = elsewhere / "out" / "meeting_take_1"
    info = json.loads((rec / "meeting_take_1.json").read_text())
    assert info["num_spk"] >= 1 and info["duration_s"] == pytest.approx(7.0)
    for k in range(info["num_spk"]):
        track, fs = soundfile.read(rec / f"meeting_take_1_spk{k}.wav")
        assert fs == 16000 and len(track) == len(audio)  # stitched over 7 chunks
    lines = (rec / "meeting_take_1.rttm").read_text().splitlines()
    assert lines and all(line.split()[1] == "meeting_take_1" for line in lines)
    import matplotlib.image

    png = matplotlib.image.imread(rec / "meeting_take_1.png")
    assert png.shape[0] > 200 and png.shape[1] > 1000
    # the speaker lanes hold the first speaker's colour (turns were drawn)
    from espnet_echo.inference.plot import speaker_color

    rgb = np.asarray(speaker_color(0))
    assert (np.abs(png[..., :3] - rgb).max(-1) < 0.02).sum() > 100
    assert "meeting_take_1:" in capsys.readouterr().out


def test_bad_model_and_no_input_are_one_line_errors(exp_dir, tmp_path):
    with pytest.raises(SystemExit, match="echo_infer: error: .*nope.wav"):
        echo_infer.main([str(tmp_path / "nope.wav"), "--model", str(exp_dir)])
    wav = tmp_path / "a.wav"
    soundfile.write(wav, np.zeros(16000, np.float32), 16000)
    with pytest.raises(SystemExit, match="echo_infer: error: .*no_model"):
        echo_infer.main([str(wav), "--model", str(tmp_path / "no_model")])


@pytest.mark.parametrize("kind", ["empty", "random", "pickled_list", "saved_list"])
def test_unreadable_checkpoint_is_one_line_error_naming_it(exp_dir, tmp_path, kind):
    """An empty, random, plain-pickle or non-state-dict ``*.pth``: no traceback."""
    recipe = tmp_path / "recipe"
    shutil.copytree(exp_dir.parent.parent, recipe)
    pth = recipe / exp_dir.relative_to(exp_dir.parent.parent) / "valid.loss.best.pth"
    if kind == "empty":
        pth.write_bytes(b"")
    elif kind == "random":
        pth.write_bytes(np.random.RandomState(0).bytes(2048))
    elif kind == "pickled_list":
        pth.write_bytes(pickle.dumps([1, 2, 3], protocol=4))
    else:
        torch.save([torch.zeros(2)], pth)
    wav = tmp_path / "a.wav"
    soundfile.write(wav, np.zeros(16000, np.float32), 16000)
    with pytest.raises(SystemExit) as e:
        echo_infer.main([str(wav), "--model", str(pth.parent), "--output_dir",
                         str(tmp_path / "out"), "--no_progress"])
    msg = str(e.value.code)
    want = f"echo_infer: error: {pth}: not a readable PyTorch checkpoint ("
    assert msg.startswith(want), msg
    assert "\n" not in msg and not (tmp_path / "out" / "a").exists()


def test_review_findings_unsafe_names_user_files_formats_and_rate(exp_dir, tmp_path, capsys):
    """From a fresh-user review: a wav.scp key cannot write outside --output_dir, a
    rerun never deletes files the user put into an output dir, --formats without wav
    writes no track on a long recording, a rate other than the model's is refused, and
    a silent recording gets every output (empty)."""
    rng = np.random.RandomState(1)
    wav = tmp_path / "a.wav"
    soundfile.write(wav, (rng.randn(16000 * 5) * 0.1).astype(np.float32), 16000)
    silent = tmp_path / "quiet.wav"
    soundfile.write(silent, np.zeros(16000, np.float32), 16000)
    scp = tmp_path / "wav.scp"
    scp.write_text(f"../escape {wav}\ngood {wav}\nquiet {silent}\n")
    out = tmp_path / "out"
    base = ["--model", str(exp_dir), "--output_dir", str(out), "--no_progress",
            "--chunk_s", "2"]
    with pytest.raises(SystemExit):
        echo_infer.main([str(scp), *base, "--formats", "rttm", "txt"])
    err = capsys.readouterr().err
    assert "'../escape' is not a plain file name" in err
    assert not (tmp_path / "escape").exists() and not (out.parent / "escape").exists()
    good = out / "good"
    assert (good / "good.rttm").is_file() and not list(good.glob("*.wav"))  # 7 chunks
    assert {p.name for p in (out / "quiet").iterdir()} == {
        ".stamp.json", "quiet.json", "quiet.rttm", "quiet.exclusive.rttm", "quiet.txt"}
    (good / "my_notes.txt").write_text("mine\n")
    scp.write_text(f"good {wav}\n")
    with pytest.raises(SystemExit):
        echo_infer.main([str(scp), *base])
    assert "holds files an earlier run did not write (my_notes.txt)" in capsys.readouterr().err
    assert (good / "my_notes.txt").read_text() == "mine\n"
    with pytest.raises(SystemExit, match="takes 16000 Hz audio .*not fs=8000"):
        echo_infer.main([str(wav), *base, "--fs", "8000"])

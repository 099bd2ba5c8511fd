# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""fit_plda end to end with the real ArcFace speaker head on a tiny model."""

import copy

import numpy as np
import pytest
import soundfile
import torch

from espnet_echo.bin import fit_plda
from espnet_echo.cluster.plda import PLDA
from espnet_echo.tasks.echo import EchoTask

spk_arcface = pytest.importorskip("espnet_echo.heads.spk_arcface")

TINY = [
    "--frontend_conf", "n_fft=512", "--frontend_conf", "win_length=400",
    "--frontend_conf", "hop_length=160", "--frontend_conf", "n_mels=16",
    "--encoder_conf", "output_size=32", "--encoder_conf", "num_blocks=1",
    "--encoder_conf", "attention_heads=2", "--encoder_conf", "linear_units=32",
    "--sep_head", "none", "--asr_head", "none",
]


def add_spk_head(model):
    if "spk" not in model.heads:
        torch.manual_seed(0)
        model.heads["spk"] = spk_arcface.ArcFaceSpkHead(
            32, num_spk=3, num_train_speakers=6, frame_shift_s=0.04, embed_dim=8,
            hidden_size=16, window_s=0.4, hop_s=0.2,
        )
        model.rwse["spk"] = copy.deepcopy(model.rwse["diar"])
    return model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp")
    EchoTask.main(cmd=["--dry_run", "true", "--output_dir", str(out), *TINY])
    model, _ = EchoTask.build_model_from_file(out / "config.yaml", None, "cpu")
    torch.save(add_spk_head(model).state_dict(), out / "model.pth")
    return out


@pytest.fixture(autouse=True)
def with_spk_head(monkeypatch):
    build = EchoTask.build_model_from_file

    def build_with_spk(*args, **kwargs):
        model, train_args = build(*args, **kwargs)
        return add_spk_head(model), train_args

    monkeypatch.setattr(EchoTask, "build_model_from_file", build_with_spk)


@pytest.fixture
def data(tmp_path):
    rng = np.random.RandomState(0)
    root = tmp_path / "data"
    root.mkdir()
    wav_scp, rttm, spks = [], [], []
    for i in range(16):
        utt = f"tr_mix{i:06d}"
        a, b = rng.choice(6, 2, replace=False)
        soundfile.write(root / f"{utt}.wav", rng.randn(44800) * 0.1, 16000)
        wav_scp.append(f"{utt} {root / f'{utt}.wav'}")
        rttm.append(f"SPEAKER {utt} 1 0.000 1.300 <NA> <NA> v{a} <NA> <NA>")
        rttm.append(f"SPEAKER {utt} 1 1.200 1.600 <NA> <NA> v{b} <NA> <NA>")
        spks.append(f"{utt} v{a} v{b}")
    (root / "wav.scp").write_text("\n".join(wav_scp) + "\n")
    (root / "rttm").write_text("\n".join(rttm) + "\n")
    (root / "utt2spks").write_text("\n".join(spks) + "\n")
    return root


def args(model_dir, data, out, *extra):
    return ["--train_config", str(model_dir / "config.yaml"),
            "--model_file", str(model_dir / "model.pth"),
            "--data_dir", str(data), "--out", str(out), *extra]


def test_fit_plda_cli_fits_skips_and_refits(model_dir, data, tmp_path, caplog):
    out = tmp_path / "exp" / "plda.npz"
    fit_plda.main(args(model_dir, data, out, "--batch_size", "4"))
    plda = PLDA.load(out)
    assert plda.input_dim == 8 and plda.dim == 5  # min(embed_dim, 6 speakers - 1)
    first = out.stat().st_mtime_ns
    with caplog.at_level("INFO"):
        fit_plda.main(args(model_dir, data, out))
    assert "up to date" in caplog.text and out.stat().st_mtime_ns == first
    # changed labels: fitted again
    (data / "rttm").write_text((data / "rttm").read_text().replace("1.300", "1.250"))
    fit_plda.main(args(model_dir, data, out, "--lda_dim", "3", "--max_utts", "12"))
    assert out.stat().st_mtime_ns != first and PLDA.load(out).dim == 3


def test_fit_plda_cli_errors_are_one_line(model_dir, data, tmp_path):
    out = tmp_path / "plda.npz"
    with pytest.raises(SystemExit, match="fit_plda: error: .*the PLDA fit failed on .*"
                       "degenerate"):
        fit_plda.main(args(model_dir, data, out, "--max_utts", "1", "--min_solo_share", "1"))
    rttm = (data / "rttm").read_text()
    both = rttm.replace("1.200 1.600", "0.000 2.800").replace("0.000 1.300", "0.000 2.800")
    (data / "rttm").write_text(both)  # two speakers all the time: no solo frame
    with pytest.raises(SystemExit, match="fit_plda: error: .*0 single-speaker windows of 0 "
                       "speaker.*PLDA needs windows of at least 2 speakers"):
        fit_plda.main(args(model_dir, data, out))
    (data / "rttm").write_text(rttm)
    state = torch.load(model_dir / "model.pth", weights_only=True)
    state.pop(next(iter(state)))
    torch.save(state, tmp_path / "bad.pth")
    bad = args(model_dir, data, out)
    bad[bad.index("--model_file") + 1] = str(tmp_path / "bad.pth")
    with pytest.raises(SystemExit, match="fit_plda: error: .*bad.pth does not match"):
        fit_plda.main(bad)
    assert not out.exists()

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""fit_plda end to end on a tiny model built through EchoTask with diar + spk heads."""

import numpy as np
import pytest
import soundfile
import torch

from espnet_echo.bin import fit_plda
from espnet_echo.cluster.plda import PLDA
from espnet_echo.tasks.echo import EchoTask

TINY = [
    "--frontend_conf", "n_fft=512", "--frontend_conf", "win_length=400",
    "--frontend_conf", "hop_length=160", "--frontend_conf", "n_mels=16",
    "--encoder_conf", "output_size=32", "--encoder_conf", "num_blocks=1",
    "--encoder_conf", "attention_heads=2", "--encoder_conf", "linear_units=32",
    "--sep_head", "none", "--asr_head", "none", "--spk_head", "arcface",
    "--spk_head_conf", "hidden_size=16", "--spk_head_conf", "embed_dim=8",
    "--spk_head_conf", "window_s=0.4", "--spk_head_conf", "hop_s=0.2",
    "--spk_head_conf", "min_solo_frames=2",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp")
    (out / "spk_list.txt").write_text("".join(f"v{i}\n" for i in range(6)))
    EchoTask.main(cmd=["--dry_run", "true", "--output_dir", str(out),
                       "--spk_list", str(out / "spk_list.txt"), *TINY])
    torch.manual_seed(0)
    model, _ = EchoTask.build_model_from_file(out / "config.yaml", None, "cpu")
    assert list(model.heads) == ["diar", "spk"]
    torch.save(model.state_dict(), out / "model.pth")
    return out


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
    # it records whose embeddings it scores (Speech2Echo refuses another checkpoint's)
    from espnet_echo.utils.fileio import file_digest

    assert plda.embedder == f"model {file_digest(model_dir / 'model.pth')}"
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

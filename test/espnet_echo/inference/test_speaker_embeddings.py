# Copyright 2026 espnet-echo developers
#  Apache 2.0
import copy

import numpy as np
import pytest
import soundfile
import torch

from espnet_echo.cluster.plda import PLDA
from espnet_echo.data.datadir import load_data_dir
from espnet_echo.heads.abs_head import AbsEchoHead
from espnet_echo.inference.speaker_embeddings import (
    collect_embeddings,
    fit_plda,
    pick_utts,
    solo_windows,
    speaker_head,
)
from espnet_echo.tasks.echo import EchoTask

TINY = [
    "--frontend_conf", "n_fft=512", "--frontend_conf", "win_length=400",
    "--frontend_conf", "hop_length=160", "--frontend_conf", "n_mels=16",
    "--encoder_conf", "output_size=32", "--encoder_conf", "num_blocks=1",
    "--encoder_conf", "attention_heads=2", "--encoder_conf", "linear_units=32",
    "--sep_head", "none", "--asr_head", "none",
]


class FakeSpkHead(AbsEchoHead):
    """The speaker head's contract: speaker_frames = the RWSE features, mean pooling."""

    output_kinds = ("speaker_frames",)
    window_s, hop_s = 0.4, 0.2

    def __init__(self, dim):
        super().__init__(dim, 3)
        self.embed_dim = dim
        self.calls = 0

    def infer(self, feats, feats_lens, speech=None, speech_lengths=None):
        self.calls += 1
        return {"speaker_frames": feats, "speaker_frames_lengths": feats_lens}

    def embed(self, speaker_frames, weights):
        pooled = torch.bmm(weights, speaker_frames)
        return torch.nn.functional.normalize(pooled, dim=-1)

    def loss(self, output, **refs):
        raise NotImplementedError


def add_spk_head(model):
    if "spk" not in model.heads:
        model.heads["spk"] = FakeSpkHead(32)
        model.rwse["spk"] = copy.deepcopy(model.rwse["diar"])
    return model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp")
    EchoTask.main(cmd=["--dry_run", "true", "--output_dir", str(out), *TINY])
    model, _ = EchoTask.build_model_from_file(out / "config.yaml", None, "cpu")
    torch.save(add_spk_head(model).state_dict(), out / "model.pth")
    return out


@pytest.fixture
def with_spk_head(monkeypatch):
    build = EchoTask.build_model_from_file
    monkeypatch.setattr(EchoTask, "build_model_from_file",
                        lambda *a, **k: (add_spk_head(build(*a, **k)[0]), build(*a, **k)[1]))


def make_data(root, num_utts=12, num_voices=6, seconds=3.0, seed=0):
    """Two speakers per mixture, A alone then B alone, global ids from a pool."""
    rng = np.random.RandomState(seed)
    root.mkdir()
    wav_scp, rttm, spks = [], [], []
    n = int(seconds * 16000)
    for i in range(num_utts):
        utt = f"tr_mix{i:06d}"
        a, b = rng.choice(num_voices, 2, replace=False)
        soundfile.write(root / f"{utt}.wav", rng.randn(n) * 0.1, 16000)
        wav_scp.append(f"{utt} {root / f'{utt}.wav'}")
        rttm.append(f"SPEAKER {utt} 1 0.000 1.400 <NA> <NA> v{a} <NA> <NA>")
        rttm.append(f"SPEAKER {utt} 1 1.600 1.400 <NA> <NA> v{b} <NA> <NA>")
        spks.append(f"{utt} v{a} v{b}")
    (root / "wav.scp").write_text("\n".join(wav_scp) + "\n")
    (root / "rttm").write_text("\n".join(rttm) + "\n")
    (root / "utt2spks").write_text("\n".join(spks) + "\n")
    (root / "utt2num_spk").write_text("".join(f"{s.split()[0]} 2\n" for s in spks))
    return root


def test_solo_windows_weigh_single_speaker_frames():
    labels = np.zeros((30, 2), int)
    labels[:14, 0] = 1
    labels[10:30, 1] = 1  # 10..13 overlap: nobody's solo frames
    out = solo_windows(labels, window=10, hop=5)
    assert [k for k, _, _ in out] == [0, 1]
    k0, solo0, win0 = out[0]
    assert solo0.tolist() == [True] * 10 + [False] * 20
    assert win0.tolist() == [[0, 10], [5, 15]]  # [5, 15): 5 solo frames of 10, kept
    assert out[1][2].tolist() == [[10, 20], [15, 25], [20, 30]]


def test_pick_utts_spreads_evenly():
    assert pick_utts(list("abcdefghij"), 3) == ["a", "e", "j"]  # 0, 4.5 -> 4, 9
    assert pick_utts(list("abc"), None) == ["a", "b", "c"]


def test_collect_embeddings_labels_windows_with_global_ids(model_dir, with_spk_head, tmp_path):
    from espnet_echo.inference.speech2echo import load_model

    model, _ = load_model(model_dir / "config.yaml", model_dir / "model.pth")
    ddir = load_data_dir(make_data(tmp_path / "data"))
    emb, labels, stats = collect_embeddings(model, ddir, batch_size=5)
    # 76 frames of 40 ms, windows of 10 every 5 plus the tail [66, 76): A alone in
    # frames 0-34 (windows from 0 to 30: 7), B alone in 40-74 (from 35 to 65, and 66: 8)
    assert emb.shape == (len(labels), 32) and len(labels) == 12 * (7 + 8)
    assert set(labels) <= {f"v{i}" for i in range(6)}
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    assert stats["num_utts"] == 12 and stats["num_speakers"] == len(set(labels))
    assert model.heads["spk"].calls == 3  # 12 utterances in batches of 5
    assert speaker_head(model)[0] == "spk"


def test_fit_plda_writes_and_skips(model_dir, with_spk_head, tmp_path, caplog):
    data = make_data(tmp_path / "data")
    out = tmp_path / "exp" / "plda.npz"
    stats = fit_plda(model_dir / "config.yaml", model_dir / "model.pth", data, out,
                     max_utts=10)
    assert stats["num_utts"] == 10 and stats["lda_dim"] == stats["num_speakers"] - 1
    plda = PLDA.load(out)
    assert plda.input_dim == 32
    with caplog.at_level("INFO"):
        assert fit_plda(model_dir / "config.yaml", model_dir / "model.pth", data, out,
                        max_utts=10) is None
    assert "up to date" in caplog.text
    # another option or changed labels: fitted again
    assert fit_plda(model_dir / "config.yaml", model_dir / "model.pth", data, out,
                    max_utts=12) is not None


def test_fit_plda_errors(model_dir, with_spk_head, tmp_path):
    data = make_data(tmp_path / "data", num_utts=2, num_voices=2)
    (data / "rttm").unlink()
    with pytest.raises(ValueError, match="no rttm or espnet_rttm"):
        fit_plda(model_dir / "config.yaml", model_dir / "model.pth", data,
                 tmp_path / "p.npz")


def test_no_speaker_head_is_named(tmp_path):
    EchoTask.main(cmd=["--dry_run", "true", "--output_dir", str(tmp_path), *TINY])
    model, _ = EchoTask.build_model_from_file(tmp_path / "config.yaml", None, "cpu")
    with pytest.raises(ValueError, match="no speaker head.*'diar'"):
        speaker_head(model)

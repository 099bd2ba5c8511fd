# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of espnet_echo.ssl.probe (frozen-encoder speaker-ID and CTC probes)."""

import numpy as np
import pytest
import soundfile
import torch

from espnet_echo.ssl.probe import (
    ProbeError,
    build_feature_extractor,
    ctc_probe,
    extract_features,
    load_encoder_weights,
    speaker_probe,
    split_by_speaker,
)
from espnet_echo.utils.fileio import DataFileError

N_MELS = 40
# A JEPA pretraining config (predictor, GMM anchor) whose GMM file does not exist: the
# features do not need it.
JEPA_CONFIG = f"""frontend: default
frontend_conf: {{fs: 16000, n_fft: 400, hop_length: 160, n_mels: {N_MELS}}}
encoder: echo_vit
encoder_conf: {{output_size: 16, attention_heads: 2, linear_units: 32, num_blocks: 1}}
predictor_conf: {{output_size: 16, attention_heads: 2, linear_units: 32, num_blocks: 1}}
model_conf: {{gmm_file: exp/gmm/missing.npz}}
"""
# An EchoTask config: heads, no token list (the probe's is used to build the ASR head).
ECHO_CONFIG = f"""frontend: default
frontend_conf: {{fs: 16000, n_fft: 400, hop_length: 160, n_mels: {N_MELS}}}
encoder: echo_vit
encoder_conf: {{output_size: 16, attention_heads: 2, linear_units: 32, num_blocks: 1}}
num_spk: 2
diar_head: eend
sep_head: null
asr_head: multispkr
asr_head_conf: {{sd_num_blocks: 1, rec_num_blocks: 1, attention_heads: 2, linear_units: 16,
                decoder_conf: {{num_blocks: 1, attention_heads: 2, linear_units: 16}}}}
"""


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    root = tmp_path_factory.mktemp("configs")
    (root / "jepa.yaml").write_text(JEPA_CONFIG)
    (root / "echo.yaml").write_text(ECHO_CONFIG)
    (root / "tokens.txt").write_text("<blank>\n<unk>\n<space>\nA\nB\n<sos/eos>\n")
    return root


def test_speaker_probe_without_repeated_speakers_is_skipped():
    result = speaker_probe(torch.randn(3, 4), ["a", "b", "b"], seed=0)
    assert result["speaker_acc"] is None and result["num_test"] == 0
    assert "1 speaker(s) with >= 2 sources" in result["speaker_probe_skipped"]


def test_speaker_probe_separates_distinct_clusters():
    gen = torch.Generator().manual_seed(0)
    centers = 5 * torch.randn(3, 8, generator=gen)
    labels = [s for s in "abc" for _ in range(10)]
    pooled = torch.stack([centers["abc".index(s)] for s in labels])
    pooled = pooled + 0.1 * torch.randn(pooled.shape, generator=gen)
    result = speaker_probe(pooled, labels, seed=0)
    assert result["speaker_acc"] == 1.0 and result["num_speakers"] == 3
    assert result["speaker_chance"] == pytest.approx(1 / 3)


def test_split_by_speaker_holds_out_per_speaker():
    labels = ["a"] * 10 + ["b"] * 2 + ["c"]
    train, test, speakers = split_by_speaker(labels, seed=0)
    assert speakers == ["a", "b"]
    assert sorted(train + test) == list(range(12)) and not set(train) & set(test)
    assert sum(labels[i] == "a" for i in test) == 3
    assert sum(labels[i] == "b" for i in test) == 1
    assert split_by_speaker(labels, seed=0) == (train, test, speakers)


def test_ctc_probe_needs_two_transcribed_mixtures():
    feats = [torch.randn(6, 4) for _ in range(3)]
    tokens = ["<blank>", "<unk>", "A", "<sos/eos>"]
    with pytest.raises(ProbeError, match="transcribed sources in >= 2 mixtures"):
        ctc_probe(feats, ["A", "", "AA"], ["m0", "m1", "m0"], tokens, seed=0)
    result = ctc_probe(feats, ["A", "", "AA"], ["m0", "m1", "m2"], tokens, seed=0, epochs=2)
    assert result["ctc_num_train"] + result["ctc_num_test"] == 2
    assert 0.0 <= result["ctc_cer"]


def test_checkpoint_loading(configs, tmp_path):
    _, _, encoder, fs = build_feature_extractor(configs / "jepa.yaml")
    assert fs == 16000
    _, _, other, _ = build_feature_extractor(configs / "jepa.yaml")
    state = {f"target_encoder.{k}": v for k, v in other.state_dict().items()}
    state["predictor.w"] = torch.zeros(3)
    ckpt = tmp_path / "model.pth"
    torch.save(state, ckpt)
    assert load_encoder_weights(encoder, ckpt, "target_encoder") == len(other.state_dict())
    for k, v in encoder.state_dict().items():
        assert torch.equal(v, other.state_dict()[k]), k

    with pytest.raises(ProbeError, match=r"no key starts with 'encoder\.'.*predictor"):
        load_encoder_weights(encoder, ckpt, "encoder")
    key = "target_encoder.embed.proj.weight"
    assert key in state
    state[key] = torch.zeros(5, 5)
    torch.save({"model": state}, ckpt)  # trainer-checkpoint layout
    with pytest.raises(ProbeError, match=f"{ckpt}: {key} has shape"):
        load_encoder_weights(encoder, ckpt, "target_encoder")
    del state[key]
    torch.save(state, ckpt)
    with pytest.raises(ProbeError, match="missing"):
        load_encoder_weights(encoder, ckpt, "target_encoder")


def test_random_init_is_seeded(configs):
    torch.manual_seed(3)
    _, _, a, _ = build_feature_extractor(configs / "jepa.yaml")
    torch.manual_seed(3)
    _, _, b, _ = build_feature_extractor(configs / "echo.yaml", None, configs / "tokens.txt")
    assert a.state_dict().keys() == b.state_dict().keys()
    for k, v in a.state_dict().items():  # same encoder whichever task builds it
        assert torch.equal(v, b.state_dict()[k]), k


def test_normalize_stats_replaces_config_normalize(configs, tmp_path):
    _, normalize, _, _ = build_feature_extractor(configs / "jepa.yaml")
    assert normalize is None  # the config names none
    stats = tmp_path / "feats_stats.npz"
    count = 10
    np.savez(stats, count=np.array(count), sum=np.full(N_MELS, 2.0 * count),
             sum_square=np.full(N_MELS, 5.0 * count))
    _, normalize, _, _ = build_feature_extractor(configs / "jepa.yaml", stats)
    x = torch.full((1, 3, N_MELS), 2.0)
    y, _ = normalize(x, torch.tensor([3]))
    assert torch.allclose(y, torch.zeros_like(y))  # mean 2 removed
    with pytest.raises(ProbeError, match="nope.npz: normalize stats file not found"):
        build_feature_extractor(configs / "jepa.yaml", tmp_path / "nope.npz")


def test_config_errors(configs, tmp_path):
    no_encoder = tmp_path / "no_encoder.yaml"
    no_encoder.write_text("frontend: default\n")
    with pytest.raises(ProbeError, match=f"{no_encoder}: no 'encoder' given"):
        build_feature_extractor(no_encoder)
    with pytest.raises(DataFileError, match="EchoTask cannot build the model .*token_list"):
        build_feature_extractor(configs / "echo.yaml")  # ASR head, no token list anywhere


def test_extract_features_trims_and_keeps_order(configs, tmp_path):
    frontend, normalize, encoder, fs = build_feature_extractor(configs / "jepa.yaml")
    rng = np.random.default_rng(0)
    wavs, trimmed = [], []
    for i, n in enumerate((8000, 16000, 12000)):
        speech = rng.normal(scale=0.1, size=n)
        x = np.zeros(n + 3200)
        x[1600:1600 + n] = speech  # silence around the speech is cut off
        for path, signal, out in ((tmp_path / f"w{i}.wav", x, wavs),
                                  (tmp_path / f"t{i}.wav", speech, trimmed)):
            soundfile.write(path, signal, fs, subtype="FLOAT")
            out.append(str(path))
    feats = extract_features(frontend, normalize, encoder, wavs, fs, batch_size=2)
    assert [f.shape[1] for f in feats] == [16] * 3
    assert feats[0].shape[0] < feats[2].shape[0] < feats[1].shape[0]
    for wav, cut in zip(wavs, trimmed):
        (f,) = extract_features(frontend, normalize, encoder, [wav], fs)
        (g,) = extract_features(frontend, normalize, encoder, [cut], fs)
        assert torch.equal(f, g)


def test_extract_features_reads_a_pipe_entry(configs, tmp_path):
    frontend, normalize, encoder, fs = build_feature_extractor(configs / "jepa.yaml")
    path = tmp_path / "w.wav"
    soundfile.write(path, np.random.default_rng(1).normal(scale=0.1, size=8000), fs,
                    subtype="FLOAT")
    (f,) = extract_features(frontend, normalize, encoder, [f"cat {path} |"], fs)
    (g,) = extract_features(frontend, normalize, encoder, [str(path)], fs)
    assert torch.equal(f, g)

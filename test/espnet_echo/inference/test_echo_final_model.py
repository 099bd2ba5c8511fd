# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""The last stage of Echo's staged recipe serves every task from one encoder pass.

A tiny model with the heads of ``conf/staged/staged_s4_kset.yaml`` (EEND activity, K-set
routing, the content path through FSQ + CTC, ArcFace), built through EchoTask, packed
like stage 9 packs it (with its PLDA), located from the zip like ``echo-infer`` does, and
run: diarization (VBx), separation (K-set slots and K̂) and ASR come from exactly one
encoder forward per chunk, and the frozen target encoder (the K-set head's training
targets) is never run at inference.
"""

import numpy as np
import pytest
import torch

from espnet_echo.cluster.plda import PLDA
from espnet_echo.inference.model_files import locate_model, pack_model
from espnet_echo.inference.speech2echo import speech2echo_from_files
from espnet_echo.tasks.echo import EchoTask

TINY = [
    "--frontend_conf", "n_fft=512", "--frontend_conf", "win_length=400",
    "--frontend_conf", "hop_length=160", "--frontend_conf", "n_mels=16",
    "--encoder_conf", "output_size=32", "--encoder_conf", "num_blocks=2",
    "--encoder_conf", "attention_heads=2", "--encoder_conf", "linear_units=32",
    "--diar_head", "eend", "--diar_head_conf", "hidden_size=16",
    "--sep_head", "kset", "--sep_head_conf", "hidden_size=16",
    "--sep_head_conf", "num_layers=1", "--sep_head_conf", "attention_heads=2",
    "--sep_head_conf", "linear_units=32",
    "--asr_head", "content_ctc", "--asr_head_conf", "linear_units=32",
    "--asr_head_conf", "attention_heads=2", "--asr_head_conf", "bottleneck=fsq",
    "--asr_head_conf", "d_content=3", "--asr_head_conf", "fsq_levels=[8,5,5]",
    "--spk_head", "arcface", "--spk_head_conf", "hidden_size=16",
    "--spk_head_conf", "embed_dim=8",
    "--token_type", "char",
]


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    out = tmp_path_factory.mktemp("final")
    exp = out / "exp" / "echo_staged_s4_kset"
    exp.mkdir(parents=True)
    (out / "tokens.txt").write_text(
        "\n".join(["<blank>", "<unk>", "<space>", "A", "B", "<sos/eos>"]) + "\n"
    )
    (out / "spk_list.txt").write_text("a\nb\nc\n")
    EchoTask.main(cmd=["--dry_run", "true", "--output_dir", str(exp),
                       "--token_list", str(out / "tokens.txt"),
                       "--spk_list", str(out / "spk_list.txt"), *TINY])
    model, _ = EchoTask.build_model_from_file(exp / "config.yaml", None, "cpu")
    assert model.target_encoder is not None  # the K-set head's training targets
    model.snapshot_target_encoder()
    torch.save(model.state_dict(), exp / "valid.loss.best.pth")
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(30), 10)
    emb = rng.normal(size=(30, 8))[labels] + 0.3 * rng.normal(size=(300, 8))
    PLDA.fit(emb / np.linalg.norm(emb, axis=1, keepdims=True), labels).save(exp / "plda.npz")
    return pack_model(exp, out / "packed" / "final.zip")


def test_the_packed_final_model_serves_every_task_from_one_encoder_pass(packed, tmp_path):
    files = locate_model(packed, cache_dir=tmp_path / "cache")
    assert files.plda_file is not None
    echo = speech2echo_from_files(files, {"diar_threshold": 0.0, "num_speakers": 2})
    model = echo.model
    assert set(model.heads) == {"diar", "sep", "asr", "spk"}
    calls = {"encoder": 0, "target": 0}
    model.encoder.register_forward_hook(lambda *a: calls.__setitem__("encoder", calls["encoder"] + 1))
    model.target_encoder.register_forward_hook(
        lambda *a: calls.__setitem__("target", calls["target"] + 1)
    )
    audio = np.random.RandomState(3).randn(16000 * 4).astype(np.float32) * 0.1
    res = echo(audio)
    assert calls == {"encoder": 1, "target": 0}  # one chunk, one encoder pass
    assert echo.diar_mode == "vbx" and res.num_spk == 2  # blind diarization (VBx)
    assert {k for _, _, k in res.segments} == {0, 1}
    assert isinstance(res.texts, list) and len(res.texts) == 2  # content-path ASR
    # the same pass gives the K-set routing: slots, existence and K̂
    calls["encoder"] = 0
    out = model.infer(torch.from_numpy(audio)[None], torch.tensor([audio.size]))
    assert calls == {"encoder": 1, "target": 0}
    sep = out["sep"]
    assert sep["slot_latents"].shape[:2] == (1, 3) and sep["exist_prob"].shape == (1, 3)
    assert 0 <= int(sep["num_sources"][0]) <= 3
    assert set(out) == {"diar", "sep", "asr", "spk"}

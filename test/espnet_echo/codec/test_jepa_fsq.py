# Copyright 2026 espnet-echo developers
#  Apache 2.0
from pathlib import Path

import pytest
import torch
import yaml

from espnet_echo.codec.jepa_fsq import CodecInputError, JEPAFSQCodec, JEPAFSQGenerator
from espnet_echo.codec.packing import PAPER_GROUP_LEVELS, MixedRadixPacker
from espnet_echo.layers.daam import DensityAdaptiveGate

RECIPE = Path(__file__).resolve().parents[3] / "egs2" / "mini_mix" / "codec1"


@pytest.fixture(scope="module")
def codec(make_conf):
    torch.manual_seed(0)
    return JEPAFSQCodec(**make_conf()).eval()


def test_fsq_indices_are_the_mixed_radix_packing_of_the_codes(codec, make_speech):
    g = codec.generator
    x = torch.from_numpy(make_speech(24000, 1))[None]
    with torch.no_grad():
        tokens = g.encode(x)  # (1, T, G)
        levels = g.fsq.indices_to_level_indices(tokens.to(torch.int32))  # (1, T, G, d)
    codes = levels.reshape(*levels.shape[:2], -1).long()  # (1, T, D), group-major
    assert torch.equal(g.packer.pack(codes), tokens)
    assert torch.equal(g.packer.unpack(tokens), codes)
    assert g.packer == MixedRadixPacker.uniform([5, 3], 2)


def test_frame_count_short_and_silent_audio(codec):
    g = codec.generator
    assert g.samples_per_frame == 1280  # 12.5 Hz
    with torch.no_grad():
        assert g.encode(torch.randn(1, 1280 * 3)).shape == (1, 3, 2)
        assert g.encode(torch.randn(1, 1281)).shape == (1, 2, 2)  # padded to 2 frames
        short = g.encode(torch.randn(1, 10))  # shorter than one frame: one frame
        assert short.shape == (1, 1, 2)
        silent = g.encode(torch.zeros(1, 4000))  # documented: valid tokens
        assert silent.shape == (1, 4, 2)
        assert int(silent.min()) >= 0 and int(silent.max()) < 15
        wav = g.decode(silent)
    assert wav.shape == (1, 1, 4 * 1280) and torch.isfinite(wav).all()
    with pytest.raises(CodecInputError, match="N >= 1"):
        g.encode(torch.zeros(1, 0))


def test_decode_refuses_tokens_outside_the_vocabulary(codec):
    g = codec.generator
    ok = torch.zeros(1, 3, 2, dtype=torch.long)
    for bad_value in (15, -1):
        bad = ok.clone()
        bad[0, 1, 1] = bad_value
        pattern = rf"token {bad_value} at frame 1, position 1.*\[0, 15\)"
        with pytest.raises(CodecInputError, match=pattern):
            g.decode(bad)
    with pytest.raises(CodecInputError, match=r"\(B, T >= 1, 2\)"):
        g.decode(torch.zeros(1, 3, 3, dtype=torch.long))
    with pytest.raises(CodecInputError, match="integers"):
        g.decode(ok.float())


def test_espnet_codec_layout_and_inference(codec):
    x = torch.randn(2, 2560)
    with torch.no_grad():
        codes = codec.encode(x)
        assert codes.shape == (2, 2, 2)  # (N_stream, B, T)
        assert codec.decode(codes).shape == (2, 1, 2560)
        out = codec.inference(torch.randn(3000))
    assert out["codec"].shape == (3, 2) and out["wav"].shape == (3 * 1280,)


def test_gate_is_the_projects_daam_gate_and_frozen_encoder_stays_frozen(make_conf):
    c = JEPAFSQCodec(**make_conf())
    g = c.generator
    assert isinstance(g.gate, DensityAdaptiveGate)
    assert not any(p.requires_grad for p in g.encoder.parameters())
    c.train()
    assert not g.encoder.training and g.gate.training and g.vocoder.training
    out = c(torch.randn(2, 2560) * 0.1, forward_generator=True)
    out["loss"].backward()
    assert all(p.grad is None for p in g.encoder.parameters())
    assert g.down.weight.grad is not None and g.gate.alpha.grad is not None
    tuned = JEPAFSQCodec(**make_conf(freeze_encoder=False)).train()
    assert tuned.generator.encoder.training
    tuned(torch.randn(2, 2560) * 0.1)["loss"].backward()
    assert tuned.generator.encoder.embed.proj.weight.grad is not None


def test_discriminator_turn_reuses_only_the_same_batch(make_conf):
    c = JEPAFSQCodec(**make_conf(), lambda_adv=1.0).train()
    x = torch.randn(1, 2560) * 0.1
    c(x, forward_generator=True)
    cached = c._cache[1]
    calls = []
    c.generator.register_forward_hook(lambda *a: calls.append(1))
    c(x, forward_generator=False)
    assert calls == [] and c._cache is None  # reused the generator turn's output
    c(x, forward_generator=True)
    c(x.clone(), forward_generator=False)  # another batch object: recomputed
    assert len(calls) == 2
    assert cached.shape == (1, 1, 2560)


def test_bad_frame_rate_and_upsampling_are_refused(make_conf):
    with pytest.raises(ValueError, match="must divide the encoder rate 25 Hz"):
        JEPAFSQCodec(**make_conf(frame_rate_hz=3.0))
    conf = make_conf()
    conf["generator_params"]["hifigan_conf"]["upsample_scales"] = [8, 8, 2, 2]
    with pytest.raises(ValueError, match="multiply to 256.*640 samples"):
        JEPAFSQCodec(**conf)


def test_paper_config_gives_47_5_tokens_per_second():
    with open(RECIPE / "conf" / "tuning" / "train_codec_paper.yaml") as f:
        conf = yaml.safe_load(f)
    # the generator alone (the full HiFi-GAN discriminators only cost build time here)
    g = JEPAFSQGenerator(**conf["codec_conf"]["generator_params"])
    assert g.frame_rate_hz == 2.5 and g.num_groups == 19
    assert g.packer.tokens_per_second(g.frame_rate_hz) == 47.5
    assert tuple(g.group_levels) == PAPER_GROUP_LEVELS
    assert g.packer.bitrate(g.frame_rate_hz) == pytest.approx(2.5 * 19 * 9.965784, rel=1e-6)
    with torch.no_grad():
        assert g.encode(torch.zeros(1, 16000 * 4)).shape == (1, 10, 19)


def test_mini_config_is_at_most_1200_bits_per_second():
    with open(RECIPE / "conf" / "train_codec.yaml") as f:
        conf = yaml.safe_load(f)
    gp = conf["codec_conf"]["generator_params"]
    packer = MixedRadixPacker.uniform(gp["group_levels"], gp["num_groups"])
    assert packer.bitrate(gp["frame_rate_hz"]) <= 1200

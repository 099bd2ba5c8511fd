# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tiny JEPA + DAAM codec configs and a tiny trained-format codec dir shared by the tests."""

import copy

import numpy as np
import pytest
import soundfile
import torch

TINY_ENCODER = dict(
    output_size=16, attention_heads=2, linear_units=16, num_blocks=1, patch_frames=4,
    patch_stride=4, dropout_rate=0.0, positional_dropout_rate=0.0, use_daam=True,
    daam_conf=dict(num_gaussians=2),
)
TINY_CODEC = dict(
    sampling_rate=16000,
    generator_params=dict(
        frame_rate_hz=12.5,
        group_levels=[5, 3],
        num_groups=2,
        frontend_conf=dict(n_mels=20),
        encoder_conf=TINY_ENCODER,
        gate_conf=dict(num_gaussians=2),
        latent_dim=16,
        decoder_channels=16,
        decoder_res_layers=1,
        hifigan_conf=dict(
            channels=16, upsample_scales=[8, 5, 4, 4], upsample_kernel_sizes=[16, 10, 8, 8],
            resblock_kernel_sizes=[3], resblock_dilations=[[1]],
        ),
    ),
    discriminator_params=dict(
        scales=1,
        scale_discriminator_params=dict(
            channels=4, max_downsample_channels=8, max_groups=2, kernel_sizes=[15, 41, 5, 3],
            downsample_scales=[4, 4, 1],
        ),
        periods=[2],
        period_discriminator_params=dict(
            channels=4, max_downsample_channels=8, downsample_scales=[3, 3, 1],
        ),
    ),
    mel_loss_params=dict(n_fft=512, hop_length=128, n_mels=40),
)


def tiny_codec_conf(**generator_overrides):
    conf = copy.deepcopy(TINY_CODEC)
    conf["generator_params"].update(generator_overrides)
    return conf


def speechlike(n: int, seed: int = 0, fs: int = 16000) -> np.ndarray:
    """A voiced-speech-like test signal: harmonics of a gliding f0, syllable-rate AM."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    f0 = 120 + 40 * np.sin(2 * np.pi * (0.5 + rng.random()) * t)
    phase = 2 * np.pi * np.cumsum(f0) / fs
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    am = 0.5 * (1 + np.sin(2 * np.pi * 4 * t + rng.random() * 6))
    x = 0.2 * am * x / np.max(np.abs(x)) + 0.003 * rng.standard_normal(n)
    return x.astype(np.float32)


def write_codec_dir(root, conf, name="codec", seed=0):
    """config.yaml (written by ESPnet's GANCodecTask) + model.pth of a fresh tiny codec."""
    import yaml

    from espnet2.tasks.gan_codec import GANCodecTask
    from espnet_echo import registry

    registry.register()
    out = root / name
    out.mkdir(parents=True, exist_ok=True)
    conf_file = out / "in.yaml"
    conf_file.write_text(yaml.safe_dump({"codec": "jepa_fsq", "codec_conf": conf}))
    GANCodecTask.main(
        cmd=["--dry_run", "true", "--output_dir", str(out), "--config", str(conf_file)]
    )
    torch.manual_seed(seed)
    model, _ = GANCodecTask.build_model_from_file(out / "config.yaml", None, "cpu")
    torch.save(model.state_dict(), out / "model.pth")
    return out / "config.yaml", out / "model.pth"


@pytest.fixture(scope="session")
def tiny_codec_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("codec")
    return write_codec_dir(root, tiny_codec_conf())


@pytest.fixture(scope="session")
def tiny_runner(tiny_codec_files):
    from espnet_echo.codec.inference import CodecRunner

    return CodecRunner.from_files(*tiny_codec_files)


@pytest.fixture()
def wav_dir(tmp_path):
    d = tmp_path / "wav"
    d.mkdir()
    lines = []
    for i, n in enumerate((16000, 20000)):
        p = d / f"utt{i}.wav"
        soundfile.write(p, speechlike(n, i), 16000, subtype="PCM_16")
        lines.append(f"utt{i} {p}")
    soundfile.write(d / "silent.wav", np.zeros(8000, np.float32), 16000, subtype="PCM_16")
    lines.append(f"silent {d / 'silent.wav'}")
    soundfile.write(d / "short.wav", speechlike(100, 5), 16000, subtype="PCM_16")
    lines.append(f"short {d / 'short.wav'}")
    (tmp_path / "wav.scp").write_text("\n".join(lines) + "\n")
    return tmp_path / "wav.scp"


# --import-mode=importlib: test modules cannot import this file, so helpers are fixtures.
@pytest.fixture(scope="session")
def make_conf():
    return tiny_codec_conf


@pytest.fixture(scope="session")
def make_speech():
    return speechlike


@pytest.fixture(scope="session")
def make_codec_dir():
    return write_codec_dir

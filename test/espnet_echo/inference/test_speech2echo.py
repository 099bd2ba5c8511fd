import json

import numpy as np
import pytest
import soundfile
import torch

from espnet_echo.bin import echo_inference, pack
from espnet_echo.inference.speech2echo import Speech2Echo
from espnet_echo.tasks.echo import EchoTask

TINY = [
    "--frontend_conf", "n_fft=512", "--frontend_conf", "win_length=400",
    "--frontend_conf", "hop_length=160", "--frontend_conf", "n_mels=16",
    "--encoder_conf", "output_size=32", "--encoder_conf", "num_blocks=2",
    "--encoder_conf", "attention_heads=2", "--encoder_conf", "linear_units=32",
    "--sep_head_conf", "enc_channels=16", "--sep_head_conf", "tcn_hidden=32",
    "--sep_head_conf", "tcn_bottleneck=16", "--sep_head_conf", "tcn_layers=2",
    "--sep_head_conf", "tcn_stacks=1",
    "--asr_head_conf", "linear_units=32", "--asr_head_conf", "attention_heads=2",
    "--token_type", "char",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp")
    tokens = out / "tokens.txt"
    tokens.write_text("\n".join(["<blank>", "<unk>", "<space>", "A", "B", "<sos/eos>"]) + "\n")
    EchoTask.main(cmd=["--dry_run", "true", "--output_dir", str(out),
                       "--token_list", str(tokens), *TINY])
    model, _ = EchoTask.build_model_from_file(out / "config.yaml", None, "cpu")
    torch.save(model.state_dict(), out / "model.pth")
    return out


@pytest.fixture(scope="module")
def echo(model_dir):
    return Speech2Echo(model_dir / "config.yaml", model_dir / "model.pth")


def test_result_fields(echo):
    res = echo(np.random.RandomState(0).randn(16000).astype(np.float32) * 0.1)
    assert 0 <= res.num_spk <= 3
    assert res.sources is not None and res.sources.shape[1] == 16000
    assert isinstance(res.texts, list)
    for start, end, spk in res.segments:
        assert 0 <= start < end <= 1.0 + 1e-6 and spk < res.num_spk


def test_silence_gives_empty_result(echo):
    res = echo(np.zeros(16000, dtype=np.float32))
    assert res.num_spk == 0 and res.segments == [] and res.sources is None


@pytest.mark.parametrize(
    "audio,match",
    [
        (np.zeros((16000, 2), np.float32), "mono"),
        (np.full(16000, np.nan, np.float32), "NaN"),
        (np.zeros(0, np.float32), "empty"),
        (np.ones(100, np.float32), "shorter than two encoder frames"),
    ],
)
def test_bad_audio_is_rejected(echo, audio, match):
    with pytest.raises(ValueError, match=match):
        echo(audio, name="x.wav")


def test_checkpoint_that_does_not_match_config_is_rejected(model_dir, tmp_path):
    state = torch.load(model_dir / "model.pth", weights_only=True)
    state.pop(next(iter(state)))
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(RuntimeError, match="missing keys"):
        Speech2Echo(model_dir / "config.yaml", tmp_path / "bad.pth")


def test_inference_cli_writes_hypothesis_dir(model_dir, tmp_path):
    wav = tmp_path / "a.wav"
    soundfile.write(wav, np.random.RandomState(1).randn(24000) * 0.1, 16000)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "wav.scp").write_text(f"utt1 {wav}\n")
    out = tmp_path / "decode"
    echo_inference.main(["--train_config", str(model_dir / "config.yaml"),
                         "--model_file", str(model_dir / "model.pth"),
                         "--data_dir", str(tmp_path / "data"), "--output_dir", str(out)])
    assert (out / "utt2num_spk").read_text().startswith("utt1 ")
    assert (out / "rttm").is_file()
    info = json.loads((out / "info.json").read_text())
    assert info["rtf"] > 0 and info["encoder_params"] > 0
    for line in (out / "spk1.scp").read_text().splitlines():
        assert soundfile.info(line.split()[1]).samplerate == 16000


def test_pack_and_from_pretrained(model_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(model_dir)
    zip_path = tmp_path / "packed.zip"
    pack.main(["--train_config", "config.yaml", "--model_file", "model.pth",
               "--outpath", str(zip_path)])
    echo = Speech2Echo.from_pretrained(str(zip_path), cachedir=str(tmp_path / "cache"))
    res = echo(np.random.RandomState(2).randn(16000).astype(np.float32) * 0.1)
    assert res.sources is not None


def decode_args(model_dir, data, out, *extra):
    return ["--train_config", str(model_dir / "config.yaml"),
            "--model_file", str(model_dir / "model.pth"),
            "--data_dir", str(data), "--output_dir", str(out), *extra]


@pytest.fixture
def one_wav_data(tmp_path):
    wav = tmp_path / "a.wav"
    soundfile.write(wav, np.random.RandomState(3).randn(24000) * 0.1, 16000)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "wav.scp").write_text(f"utt1 {wav}\n")
    return tmp_path / "data"


def test_inference_cli_skips_a_current_dir_and_redecodes_on_change(model_dir, one_wav_data,
                                                                   tmp_path, caplog):
    out = tmp_path / "decode"
    echo_inference.main(decode_args(model_dir, one_wav_data, out))
    first = (out / "info.json").stat().st_mtime_ns
    (out / "score").mkdir()  # what stage 8 adds later survives a skipped rerun
    with caplog.at_level("INFO"):
        echo_inference.main(decode_args(model_dir, one_wav_data, out))
    assert "up to date; skipped" in caplog.text
    assert (out / "info.json").stat().st_mtime_ns == first and (out / "score").is_dir()
    # another decoding option: decoded again, from scratch (no file of the old run left)
    (out / "spk9.scp").write_text("utt1 stale.wav\n")
    echo_inference.main(decode_args(model_dir, one_wav_data, out, "--diar_threshold", "0.6"))
    assert (out / "info.json").stat().st_mtime_ns != first
    assert not (out / "spk9.scp").exists() and not (out / "score").exists()
    for line in (out / "spk1.scp").read_text().splitlines():
        assert soundfile.info(line.split()[1]).frames == 24000


def test_inference_cli_failure_keeps_the_previous_dir(model_dir, one_wav_data, tmp_path):
    out = tmp_path / "decode"
    echo_inference.main(decode_args(model_dir, one_wav_data, out))
    before = sorted(p.name for p in out.iterdir())
    (one_wav_data / "wav.scp").write_text(
        (one_wav_data / "wav.scp").read_text() + f"utt2 {tmp_path / 'missing.wav'}\n")
    with pytest.raises(Exception, match="missing.wav"):
        echo_inference.main(decode_args(model_dir, one_wav_data, out))
    assert sorted(p.name for p in out.iterdir()) == before
    assert (out / "utt2num_spk").read_text().startswith("utt1 ")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".decode.")]

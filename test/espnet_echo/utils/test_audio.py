import numpy as np
import pytest
import soundfile

from espnet_echo.utils.audio import AudioError, load_audio


def _write(path, data, fs=16000, subtype="PCM_16"):
    soundfile.write(path, data, fs, subtype=subtype)
    return path


def test_reads_mono_float32(tmp_path):
    wav = load_audio(_write(tmp_path / "a.wav", np.full(160, 0.5)))
    assert wav.dtype == np.float32 and wav.shape == (160,)


@pytest.mark.parametrize(
    "data,fs,subtype,match",
    [
        (np.zeros((160, 2)), 16000, "PCM_16", "expected mono audio, got 2 channels"),
        (np.zeros(160), 8000, "PCM_16", "sample rate 8000 Hz, expected 16000 Hz"),
        (np.array([0.1, np.nan, 0.2]), 16000, "FLOAT", "audio contains NaN or Inf"),
        (np.zeros(0), 16000, "PCM_16", "empty audio"),
    ],
)
def test_bad_audio_names_the_file(tmp_path, data, fs, subtype, match):
    path = _write(tmp_path / "bad.wav", data, fs, subtype)
    with pytest.raises(AudioError, match=f"bad.wav: {match}"):
        load_audio(path)


def test_resample_with_warning(tmp_path):
    path = _write(tmp_path / "a.wav", np.sin(np.arange(8000) / 5) * 0.3, fs=8000)
    with pytest.warns(UserWarning, match="resampling 8000 Hz to 16000 Hz"):
        wav = load_audio(path, resample=True)
    assert wav.shape == (16000,)


def test_silence_policy(tmp_path):
    path = _write(tmp_path / "s.wav", np.zeros(160))
    assert not load_audio(path).any()
    with pytest.raises(AudioError, match="silent"):
        load_audio(path, allow_silent=False)


def test_missing_and_corrupt(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "none.wav")
    (tmp_path / "c.wav").write_bytes(b"RIFF....WAVEjunk")
    with pytest.raises(AudioError, match="c.wav: cannot read audio"):
        load_audio(tmp_path / "c.wav")


def test_truncated_wav_is_caught(tmp_path):
    path = _write(tmp_path / "t.wav", np.full(1600, 0.1))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    with pytest.raises(AudioError, match="t.wav: truncated WAV file"):
        load_audio(path)


def test_read_audio_keeps_the_rate_and_check_signal_scales_integers(tmp_path):
    from espnet_echo.utils.audio import check_signal, read_audio

    path = _write(tmp_path / "a.wav", np.full(80, 0.25), fs=8000)
    wav, rate = read_audio(path)
    assert rate == 8000 and wav.shape == (80,) and wav[0] == pytest.approx(0.25)
    x = np.array([-32768, 0, 16384], np.int16)
    np.testing.assert_array_equal(check_signal(x, "x"), [-1.0, 0.0, 0.5])
    assert check_signal(np.array([[1 << 30]], np.int32), "x")[0] == pytest.approx(0.5)
    with pytest.raises(AudioError, match="x: expected mono audio, got 3 channels"):
        check_signal(np.zeros((4, 3)), "x")


def test_resampled_length_matches_resample_audio():
    from espnet_echo.utils.audio import resample_audio, resampled_length

    for n, src, dst in [(24000, 8000, 16000), (1001, 44100, 16000), (7, 16000, 8000)]:
        assert len(resample_audio(np.zeros(n, np.float32), src, dst)) == resampled_length(
            n, src, dst
        )

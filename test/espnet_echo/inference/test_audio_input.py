# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Input recordings of the inference CLI: discovery, block-wise reading, hostile input."""

import importlib.util
import logging
import re
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet_echo.inference.audio_input import (
    AUDIO_EXTENSIONS,
    AudioFile,
    InputRecording,
    discover_inputs,
)
from espnet_echo.utils.audio import AudioError, resample_audio

_spec = importlib.util.spec_from_file_location(
    "hostile_audio", Path(__file__).with_name("hostile_audio.py")
)
hostile_audio = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hostile_audio)

FS = hostile_audio.FS
MIN = hostile_audio.MIN_SAMPLES
LOGGER = "espnet_echo.inference.audio_input"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return hostile_audio.make_hostile_set(tmp_path_factory.mktemp("hostile"))


def _messages(caplog, level):
    return [r.getMessage() for r in caplog.records if r.levelno == level and r.name == LOGGER]


def _read_all(audio):
    blocks = [b for _, b in audio.blocks(FS // 3)]
    return np.concatenate(blocks)


def _check_ok(name, path, audio, caplog):
    """The documented behaviour of each ok entry (see audio_input's module docstring)."""
    wav = _read_all(audio)
    assert wav.dtype == np.float32 and wav.shape == (audio.num_samples,)
    assert np.all(np.isfinite(wav))
    warnings = _messages(caplog, logging.WARNING)
    infos = _messages(caplog, logging.INFO)
    src, src_fs = soundfile.read(str(path), dtype="float32", always_2d=True)
    if name == "silence":
        assert not np.any(wav) and not warnings
    elif name == "stereo":
        assert audio.source_channels == 2
        assert len(infos) == 1 and "downmixed" in infos[0] and str(path) in infos[0]
        np.testing.assert_allclose(wav, src.mean(axis=1), atol=1e-6)
    elif name in ("rate_8k", "rate_44k1"):
        assert audio.source_fs == src_fs != FS
        assert len(warnings) == 1 and f"resampling {src_fs} Hz to {FS} Hz" in warnings[0]
        ref = resample_audio(src[:, 0], src_fs, FS)
        assert audio.num_samples == len(ref)
        np.testing.assert_allclose(wav, ref, atol=1e-4)
        assert audio.duration == pytest.approx(1.0, abs=1e-3)
    elif name == "clipped":
        assert len(warnings) == 1 and "clipped" in warnings[0] and str(path) in warnings[0]
        np.testing.assert_array_equal(wav, src[:, 0])
    elif name == "dc_offset":
        assert len(warnings) == 1
        assert "DC offset" in warnings[0] and "not removed" in warnings[0]
        np.testing.assert_array_equal(wav, src[:, 0])  # not removed
        assert wav.mean() == pytest.approx(0.25, abs=1e-3)
    elif name == "flac_mono":
        assert not warnings
        np.testing.assert_array_equal(wav, src[:, 0])
    else:
        raise AssertionError(f"no check written for the ok entry {name!r}")


@pytest.mark.parametrize(
    "name",
    ["zero_bytes", "not_audio", "empty", "truncated", "nan", "inf", "short_10ms",
     "silence", "stereo", "rate_8k", "rate_44k1", "clipped", "dc_offset", "flac_mono"],
)
def test_hostile_entry(hostile, name, caplog):
    path, expected = hostile[name]
    kind, what = expected.split(":", 1)
    caplog.set_level(logging.INFO, logger=LOGGER)
    if kind == "error":
        with pytest.raises(AudioError) as e:
            with AudioFile(path, fs=FS, min_samples=MIN) as audio:
                _read_all(audio)
        msg = str(e.value)
        assert what in msg
        assert "\n" not in msg and msg.startswith(f"{path}: ")
    else:
        assert kind == "ok"
        with AudioFile(path, fs=FS, min_samples=MIN) as audio:
            _check_ok(name, path, audio, caplog)


def test_hostile_set_is_all_tested(hostile):
    tested = test_hostile_entry.pytestmark[0].args[1]
    assert sorted(hostile) == sorted(tested)
    for name, (path, expected) in hostile.items():
        assert path.stem == name and expected.split(":")[0] in ("error", "ok")


def test_missing_and_directory(tmp_path):
    with pytest.raises(AudioError, match=r"nope\.wav: audio file not found$"):
        AudioFile(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="is a directory"):
        AudioFile(tmp_path)


def test_nan_found_when_its_block_is_read(hostile):
    path, _ = hostile["nan"]
    with AudioFile(path, fs=FS) as audio:
        assert len(audio.read(0, FS // 4)) == FS // 4  # before the NaN: fine
        with pytest.raises(AudioError, match=r"NaN or Inf sample at 0\.500 s"):
            audio.read(FS // 4, FS)


def test_nan_time_is_source_time_when_resampling(tmp_path):
    wav = np.zeros(44100, np.float32)
    wav[30870] = np.nan  # 0.7 s
    soundfile.write(tmp_path / "n.wav", wav, 44100, subtype="FLOAT")
    with AudioFile(tmp_path / "n.wav", fs=FS) as audio:
        with pytest.raises(AudioError, match=r"at 0\.700 s"):
            list(audio.blocks(4000))


@pytest.mark.parametrize("src_fs", [8000, 11025, 22050, 44100, 48000])
def test_blockwise_resampling_equals_whole_file(tmp_path, src_fs):
    rng = np.random.default_rng(src_fs)
    x = (rng.standard_normal(src_fs * 2 + 123) * 0.2).astype(np.float32)
    soundfile.write(tmp_path / "x.wav", x, src_fs, subtype="FLOAT")
    ref = resample_audio(x, src_fs, FS)
    with AudioFile(tmp_path / "x.wav", fs=FS) as audio:
        assert audio.num_samples == len(ref)
        for block, overlap in [(1, 0), (777, 0), (4000, 1000), (10 ** 6, 0)]:
            got = [(s, b) for s, b in audio.blocks(block, overlap)] if block > 1 else None
            if got is None:  # sample by sample on a stretch
                b = np.array([audio.read(i, i + 1)[0] for i in range(500, 700)])
                np.testing.assert_allclose(b, ref[500:700], atol=1e-4)
                continue
            for s, b in got:
                np.testing.assert_allclose(b, ref[s:s + len(b)], atol=1e-4)
            assert got[-1][0] + len(got[-1][1]) == len(ref)
        for s in rng.integers(0, len(ref), 20):  # random access, any order
            e = min(len(ref), s + int(rng.integers(1, 3000)))
            np.testing.assert_allclose(audio.read(s, e), ref[s:e], atol=1e-4)


def test_blocks_overlap_and_arguments(hostile):
    path, _ = hostile["flac_mono"]
    with AudioFile(path, fs=FS) as audio:
        assert [s for s, _ in audio.blocks(6000, 1000)] == [0, 5000, 10000]
        got = [(s, len(b)) for s, b in audio.blocks(7000, 1000)]
        assert got == [(0, 7000), (6000, 7000), (12000, 4000)]
        for bad in [(0, 0), (100, 100), (100, -1)]:
            with pytest.raises(ValueError):
                next(audio.blocks(*bad))
        with pytest.raises(ValueError):
            audio.read(FS + 1)
        assert audio.read(FS, None).shape == (0,)
        assert len(audio.read(FS - 10, FS + 1000)) == 10
    with pytest.raises(ValueError, match="closed"):
        audio.read(0, 10)


def test_channel_pick(hostile, caplog):
    path, _ = hostile["stereo"]
    src, _ = soundfile.read(str(path), dtype="float32")
    caplog.set_level(logging.INFO, logger=LOGGER)
    for ch in (0, 1):
        with AudioFile(path, fs=FS, channel=ch) as audio:
            np.testing.assert_array_equal(audio.read(), src[:, ch])
    assert not _messages(caplog, logging.INFO)  # no downmix line
    for ch in (2, -1):
        with pytest.raises(AudioError, match=r"channel .* 2 channel\(s\)") as e:
            AudioFile(path, channel=ch)
        assert str(e.value).startswith(str(path))


def test_channel_pick_resampled(tmp_path):
    x = np.random.default_rng(0).standard_normal((8000, 3)).astype(np.float32) * 0.1
    soundfile.write(tmp_path / "c.wav", x, 8000, subtype="FLOAT")
    with AudioFile(tmp_path / "c.wav", fs=FS, channel=2) as audio:
        np.testing.assert_allclose(audio.read(), resample_audio(x[:, 2], 8000, FS), atol=1e-4)


def test_min_samples(hostile, tmp_path):
    path, _ = hostile["short_10ms"]
    with AudioFile(path, fs=FS, min_samples=160) as audio:
        assert audio.num_samples == 160 and audio.duration == pytest.approx(0.01)
    with pytest.raises(AudioError, match=r"too short: 160 samples \(0\.010 s\) .* 161"):
        AudioFile(path, fs=FS, min_samples=161)
    # counted at the model rate: 10 ms at 8 kHz is 160 samples at 16 kHz
    path8 = tmp_path / "short8k.wav"
    soundfile.write(path8, np.ones(80, np.float32) * 0.1, 8000)
    with AudioFile(path8, fs=FS, min_samples=160) as audio:
        assert audio.num_samples == 160


def test_warnings_once_per_file(tmp_path, caplog):
    x = np.clip(np.sin(np.arange(FS * 10) / 20) * 3, -1, 1) * 0.5 + 0.5  # clipped + DC
    soundfile.write(tmp_path / "cd.wav", x, FS, subtype="PCM_16")
    caplog.set_level(logging.INFO, logger=LOGGER)
    for _ in range(2):  # each opening warns once again
        with AudioFile(tmp_path / "cd.wav", fs=FS) as audio:
            for _ in audio.blocks(FS // 10):
                pass
    w = _messages(caplog, logging.WARNING)
    assert sum("clipped" in m for m in w) == 2 and sum("DC offset" in m for m in w) == 2


def test_speech_like_audio_no_warning(tmp_path, caplog):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(FS * 5) * 0.1 * (np.sin(np.arange(FS * 5) / 800) > 0)
    soundfile.write(tmp_path / "s.flac", x, FS)
    caplog.set_level(logging.INFO, logger=LOGGER)
    with AudioFile(tmp_path / "s.flac") as audio:
        list(audio.blocks(FS))
    assert not _messages(caplog, logging.WARNING) and not _messages(caplog, logging.INFO)


@pytest.mark.parametrize("fmt", ["OGG", "MP3"])
def test_compressed_formats(tmp_path, fmt):
    if fmt not in soundfile.available_formats():
        pytest.skip(f"libsndfile without {fmt}")
    path = tmp_path / f"a.{fmt.lower()}"
    soundfile.write(path, np.sin(np.arange(FS) / 10) * 0.3, FS, format=fmt)
    with AudioFile(path, fs=FS) as audio:
        whole = audio.read()
        assert len(whole) == audio.num_samples > FS * 0.9
        np.testing.assert_allclose(audio.read(5000, 6000), whole[5000:6000], atol=1e-4)


def test_long_file_read_in_blocks_bounded_memory(tmp_path):
    path = hostile_audio.write_long_wav(tmp_path / "long.wav")
    t0 = time.perf_counter()
    tracemalloc.start()
    try:
        with AudioFile(path, fs=FS, min_samples=MIN) as audio:
            assert audio.source_fs == 8000
            assert audio.num_samples == 2 * 3600 * FS
            assert audio.duration == 7200.0
            start = audio.num_samples - 3 * FS
            blocks = [b for _, b in zip(range(3), _blocks_from(audio, start, FS))]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 10
    assert peak < 20 * 2 ** 20, peak  # the whole file at fs in float32 would be 460 MB
    assert not np.any(blocks[0]) and np.abs(blocks[2][FS // 4:]).max() > 0.2  # the tone


def _blocks_from(audio, start, size):
    while start < audio.num_samples:
        yield audio.read(start, start + size)
        start += size


def test_long_hostile_entry(tmp_path):
    hostile = hostile_audio.make_hostile_set(tmp_path, long=True)
    path, expected = hostile["long_2h"]
    assert expected.startswith("ok:")
    assert path.stat().st_size == 44 + 2 * 7200 * 8000
    with AudioFile(path, fs=FS) as audio:
        assert audio.read(0, FS).shape == (FS,)


# -- discovery ---------------------------------------------------------------------


def _touch_wav(path, n=FS):
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.zeros(n, np.float32), FS)
    return path


def test_discover_dir_file_scp(tmp_path, monkeypatch):
    d = tmp_path / "d"
    for n in ["b.wav", "a.FLAC", "c.txt", ".hidden.wav", "sub/deep.wav", "my rec.wav"]:
        _touch_wav(d / n) if not n.endswith(".txt") else (d / n).write_text("x")
    single = _touch_wav(tmp_path / "single.ogg.wav")
    monkeypatch.chdir(tmp_path)
    scp = tmp_path / "wav.scp"
    scp.write_text(f"utt1 {single}\nutt2 d/b.wav\nutt3 cat {single} |\n")
    recs = discover_inputs([str(d), str(single), str(scp)])
    assert [r.name for r in recs] == [
        "a", "b", "my_rec", "single.ogg", "utt1", "utt2", "utt3"
    ]
    assert recs[0].path == str(d / "a.FLAC") and recs[0].where is None
    assert recs[5] == InputRecording("utt2", "d/b.wav", f"{scp}:2")
    with recs[5].open(fs=FS) as audio:  # relative to the working dir
        assert audio.num_samples == FS
    with recs[6].open(fs=FS) as audio:  # a pipe entry, decoded by the scp reader
        assert audio.num_samples == FS and audio.read().shape == (FS,)
    assert ".wav" in AUDIO_EXTENSIONS and ".flac" in AUDIO_EXTENSIONS


def test_discover_duplicates(tmp_path):
    a = _touch_wav(tmp_path / "x" / "a.wav")
    _touch_wav(tmp_path / "y" / "a.wav")
    # the same file twice (as a file and through its folder): listed once
    recs = discover_inputs([str(a), str(tmp_path / "x")])
    assert [r.name for r in recs] == ["a"]
    with pytest.raises(AudioError, match=r"duplicate recording name 'a': .*x/a\.wav and "
                                         r".*y/a\.wav") as e:
        discover_inputs([str(tmp_path / "x"), str(tmp_path / "y")])
    assert "\n" not in str(e.value)


def test_discover_errors(tmp_path):
    with pytest.raises(AudioError, match="no input recordings"):
        discover_inputs([])
    with pytest.raises(AudioError, match=r"^.*missing\.wav: no such file or directory$"):
        discover_inputs([str(tmp_path / "missing.wav")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(AudioError, match=r"empty: no audio files \(.wav"):
        discover_inputs([str(tmp_path / "empty")])
    scp = tmp_path / "bad.scp"
    scp.write_text("")
    with pytest.raises(AudioError, match=r"bad\.scp: no entries"):
        discover_inputs([str(scp)])
    scp.write_text("u1 a.wav\nu1 b.wav\n")
    with pytest.raises(AudioError, match=r"bad\.scp:2: duplicate key 'u1'"):
        discover_inputs([str(scp)])
    scp.write_text("u1 ark:feats.ark\n")
    with pytest.raises(AudioError, match=r"bad\.scp:1: .* rspecifier"):
        discover_inputs([str(scp)])


def test_discovery_lists_bad_files_opening_refuses(hostile):
    d = hostile["nan"][0].parent
    recs = discover_inputs([str(d)])
    assert sorted(r.name for r in recs) == sorted(hostile)
    bad = []
    for rec in recs:
        try:
            with rec.open(fs=FS, min_samples=MIN) as audio:
                list(audio.blocks(FS))
        except AudioError as e:
            bad.append(rec.name)
            assert str(e).startswith(rec.path) and "\n" not in str(e)
    assert sorted(bad) == sorted(n for n, (_, x) in hostile.items() if x.startswith("error"))


def test_scp_entry_errors_name_the_line(tmp_path):
    scp = tmp_path / "wav.scp"
    scp.write_text(f"u1 {tmp_path}/gone.wav\nu2 false |\n")
    recs = discover_inputs([str(scp)])
    gone = re.escape(f"{scp}:1: {tmp_path}/gone.wav: audio file not found")
    with pytest.raises(AudioError, match=f"^{gone}"):
        recs[0].open()
    with pytest.raises(AudioError, match=rf"^{re.escape(str(scp))}:2: .*'false' failed") as e:
        recs[1].open()
    assert "\n" not in str(e.value)

# Copyright 2026 espnet-echo developers
#  Apache 2.0
import json
import os

import numpy as np
import pytest
import soundfile

from espnet_echo.codec.inference import (
    CodecModelError,
    CodecRunner,
    decode_to_dir,
    encode_to_dir,
    read_token_file,
)
from espnet_echo.codec.jepa_fsq import CodecInputError
from espnet_echo.codec.packing import TokenHeaderError
from espnet_echo.utils.audio import AudioError


def test_encode_decode_roundtrip_resume_and_lm_readable_file(tiny_runner, wav_dir, tmp_path):
    out = tmp_path / "tok"
    jsonl = encode_to_dir(tiny_runner, [str(wav_dir)], out)
    lines = jsonl.read_text().splitlines()
    head = json.loads(lines[0])["header"]
    assert head["frame_rate_hz"] == 12.5 and head["levels"] == [5, 3, 5, 3]
    assert head["group_sizes"] == [2, 2] and head["vocab_sizes"] == [15, 15]
    recs = [json.loads(line) for line in lines[1:]]
    assert [r["key"] for r in recs] == ["utt0", "utt1", "silent", "short"]
    frames = {r["key"]: r["num_frames"] for r in recs}
    # 16000 samples -> ceil(12.5) = 13 frames; silent: documented valid tokens; short
    # (100 samples, below one 1280-sample frame): one frame
    assert frames == {"utt0": 13, "utt1": 16, "silent": 7, "short": 1}
    for r in recs:
        arr = np.load(out / r["npy"])
        assert arr.tolist() == r["tokens"] and arr.shape == (r["num_frames"], 2)
        assert arr.min() >= 0 and arr.max() < 15
    # resume: nothing is re-encoded, the file is the same
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "npy").glob("*.npy")}
    assert encode_to_dir(tiny_runner, [str(wav_dir)], out).read_text() == jsonl.read_text()
    assert {p: p.stat().st_mtime_ns for p in (out / "npy").glob("*.npy")} == mtimes
    # no temporaries left behind (atomic writes)
    assert not [p for p in out.rglob(".*") if p.is_file() and p.name != ".stamp.json"]

    scp = decode_to_dir(tiny_runner, jsonl, tmp_path / "dec")
    wavs = dict(line.split(maxsplit=1) for line in scp.read_text().splitlines())
    for r in recs:
        wav, fs = soundfile.read(wavs[r["key"]])
        assert fs == 16000 and len(wav) == r["num_samples"]  # cropped to the input length


def test_token_file_with_other_frame_rate_or_levels_is_refused(tiny_runner, wav_dir, tmp_path):
    jsonl = encode_to_dir(tiny_runner, [str(wav_dir)], tmp_path / "tok")
    lines = jsonl.read_text().splitlines()
    for field, value, msg in (
        ("frame_rate_hz", 2.5, "frame_rate_hz is 2.5 in the file, the codec expects 12.5"),
        ("levels", [5, 3, 5, 4], "levels are"),
    ):
        head = json.loads(lines[0])
        head["header"][field] = value
        head["header"].pop("vocab_sizes")
        bad = tmp_path / f"bad_{field}.jsonl"
        bad.write_text("\n".join([json.dumps(head)] + lines[1:]) + "\n")
        pattern = rf"{bad}: header does not match the codec: {msg}"
        with pytest.raises(TokenHeaderError, match=pattern):
            decode_to_dir(tiny_runner, bad, tmp_path / "dec")
    # an output dir holding another codec's tokens is not resumed into
    hdr = tmp_path / "tok" / "header.json"
    d = json.loads(hdr.read_text())
    d["header"]["frame_rate_hz"] = 25.0
    hdr.write_text(json.dumps(d))
    with pytest.raises(TokenHeaderError, match="header.json: header does not match"):
        encode_to_dir(tiny_runner, [str(wav_dir)], tmp_path / "tok")


def test_tokens_outside_the_vocabulary_name_the_file(tiny_runner, wav_dir, tmp_path):
    jsonl = encode_to_dir(tiny_runner, [str(wav_dir)], tmp_path / "tok")
    lines = jsonl.read_text().splitlines()
    rec = json.loads(lines[2])
    rec["tokens"][0][1] = 15
    bad = tmp_path / "oov.jsonl"
    bad.write_text("\n".join([lines[0], lines[1], json.dumps(rec)]) + "\n")
    pattern = rf"{bad}:3 \(utt1\): token 15 at frame 0, position 1"
    with pytest.raises(CodecInputError, match=pattern):
        decode_to_dir(tiny_runner, bad, tmp_path / "dec")
    header, _ = read_token_file(jsonl, expected=tiny_runner.header)
    assert header == tiny_runner.header


def test_empty_audio_is_an_error_naming_the_file(tiny_runner, tmp_path):
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match=rf"{empty}: empty audio"):
        encode_to_dir(tiny_runner, [str(empty)], tmp_path / "tok")
    with pytest.raises(CodecInputError, match="x.wav: expected a non-empty waveform"):
        tiny_runner.encode(np.zeros(0, np.float32), name="x.wav")


def test_checkpoint_of_another_config_is_refused(
    tiny_codec_files, make_codec_dir, make_conf, tmp_path
):
    other_cfg, other_pth = make_codec_dir(tmp_path, make_conf(num_groups=3), name="other")
    config, _ = tiny_codec_files
    pattern = rf"{other_pth}: checkpoint does not match the codec of {config}"
    with pytest.raises(CodecModelError, match=pattern):
        CodecRunner.from_files(config, other_pth)
    with pytest.raises(CodecModelError, match="missing.pth: file not found"):
        CodecRunner.from_files(config, tmp_path / "missing.pth")
    not_codec = tmp_path / "asr.yaml"
    not_codec.write_text("encoder: echo_vit\n")
    with pytest.raises(CodecModelError, match="not a jepa_fsq codec config"):
        CodecRunner.from_files(not_codec, other_pth)

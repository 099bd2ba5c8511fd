# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""codec_encode / codec_decode / codec_score as command-line tools (in-process main())."""

import json

import numpy as np
import pytest

from espnet_echo.bin import codec_decode, codec_encode, codec_score


def test_encode_decode_score_cli(tiny_codec_files, wav_dir, tmp_path, capsys):
    config, model = (str(p) for p in tiny_codec_files)
    tok, dec = tmp_path / "tok", tmp_path / "dec"
    codec_encode.main([str(wav_dir), "--config", config, "--model_file", model,
                       "--out_dir", str(tok)])
    codec_decode.main(["--config", config, "--model_file", model,
                       "--tokens", str(tok / "tokens.jsonl"), "--out_dir", str(dec)])
    assert len((dec / "wav.scp").read_text().splitlines()) == 4
    ref = tmp_path / "ref.scp"
    ref.write_text("".join(wav_dir.read_text().splitlines(True)[:2]))
    codec_score.main(["--ref_scp", str(ref), "--hyp_scp", str(dec / "wav.scp"),
                      "--token_dir", str(tok), "--out_dir", str(tmp_path / "sc"),
                      "--no_anchors"])
    rows = json.loads((tmp_path / "sc" / "scores.json").read_text())
    assert rows[0]["num_utts"] == 2 and rows[0]["tokens_per_second"] == 25.0
    # 16000 and 20000 samples -> 13 and 16 frames of 2 x log2(15) bits
    bits = 2 * np.log2(15)
    assert rows[0]["bitrate_measured"] == pytest.approx((13 * bits + 16 * bits / 1.25) / 2)
    assert 0.0 <= rows[0]["stoi"] <= 1.0
    assert "JEPA+DAAM FSQ (ours)" in capsys.readouterr().out


def test_cli_bad_input_exits_with_one_message_naming_the_file(
    tiny_codec_files, wav_dir, tmp_path, make_codec_dir, make_conf
):
    config, model = (str(p) for p in tiny_codec_files)
    bad = tmp_path / "bad.jsonl"
    head = {"header": {"frame_rate_hz": 2.5, "levels": [5, 3, 5, 3], "group_sizes": [2, 2]}}
    rec = {"key": "a", "tokens": [[0, 0]]}
    bad.write_text(json.dumps(head) + "\n" + json.dumps(rec) + "\n")
    msg = rf"codec_decode: error: {bad}: header does not match"
    with pytest.raises(SystemExit, match=msg):
        codec_decode.main(["--config", config, "--model_file", model, "--tokens", str(bad),
                           "--out_dir", str(tmp_path / "d")])
    _, other = make_codec_dir(tmp_path, make_conf(group_levels=[4, 4]), name="other")
    msg = rf"codec_encode: error: {other}: checkpoint does not match"
    with pytest.raises(SystemExit, match=msg):
        codec_encode.main([str(wav_dir), "--config", config, "--model_file", str(other),
                           "--out_dir", str(tmp_path / "t")])
    missing = tmp_path / "nope.wav"
    msg = rf"codec_encode: error: {missing}: audio file not found"
    with pytest.raises(SystemExit, match=msg):
        codec_encode.main([str(missing), "--config", config, "--model_file", model,
                           "--out_dir", str(tmp_path / "t2")])

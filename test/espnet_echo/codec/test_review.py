# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Fresh-user review of the codec tools: unsafe keys, stamped resume, inconsistent token
records, scoring edge cases, config and option errors."""

import json
import logging
import os

import numpy as np
import pytest
import soundfile

from espnet_echo.bin import codec_decode, codec_encode, codec_score
from espnet_echo.codec import scoring
from espnet_echo.codec.inference import (
    CodecModelError,
    CodecRunner,
    decode_to_dir,
    encode_to_dir,
    read_token_file,
)
from espnet_echo.utils.audio import AudioError
from espnet_echo.utils.fileio import DataFileError


def _token_lines(runner, wav_dir, out):
    return encode_to_dir(runner, [str(wav_dir)], out).read_text().splitlines()


# 1. keys that would write outside the output dir
def test_unsafe_keys_are_refused_naming_file_and_line(tiny_runner, wav_dir, tmp_path):
    first = wav_dir.read_text().splitlines()[0].split()[1]
    scp = tmp_path / "evil.scp"
    scp.write_text(f"ok {first}\n../../escape {first}\n")
    out = tmp_path / "a" / "b" / "tok"
    with pytest.raises(DataFileError, match=rf"{scp}:2: utterance key '../../escape'"):
        encode_to_dir(tiny_runner, [str(scp)], out)
    assert not (tmp_path / "escape.npy").exists() and not out.exists()

    lines = _token_lines(tiny_runner, wav_dir, tmp_path / "tok")
    for bad_key in (str(tmp_path / "x" / "abs"), "../x", ".hidden"):
        rec = json.loads(lines[1])
        rec["key"] = bad_key
        bad = tmp_path / "bad.jsonl"
        bad.write_text("\n".join([lines[0], json.dumps(rec)]) + "\n")
        with pytest.raises(DataFileError, match=rf"{bad}:2: utterance key"):
            decode_to_dir(tiny_runner, bad, tmp_path / "dec")
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.wav").exists()


# 2. resume checks what it resumes from
def test_encode_resume_refuses_another_checkpoint_and_redoes_changed_input(
    tiny_codec_files, tiny_runner, wav_dir, tmp_path, make_codec_dir, make_conf, caplog
):
    out = tmp_path / "tok"
    encode_to_dir(tiny_runner, [str(wav_dir)], out)
    _, other_pth = make_codec_dir(tmp_path, make_conf(), name="other", seed=1)
    other = CodecRunner.from_files(tiny_codec_files[0], other_pth)
    pattern = (rf"{out}: was written with model {tiny_codec_files[1]} .*not with "
               rf"--model_file {other_pth} .*pass a new --out_dir")
    with pytest.raises(CodecModelError, match=pattern):
        encode_to_dir(other, [str(wav_dir)], out)

    # a changed wav is re-encoded, the others resumed
    npys = {p.name: p.stat().st_mtime_ns for p in (out / "npy").glob("*.npy")}
    utt0 = wav_dir.parent / "wav" / "utt0.wav"
    soundfile.write(utt0, np.zeros(3000, np.float32) + 0.1, 16000, subtype="PCM_16")
    with caplog.at_level(logging.INFO):
        jsonl = encode_to_dir(tiny_runner, [str(wav_dir)], out)
    recs = {json.loads(x)["key"]: json.loads(x) for x in jsonl.read_text().splitlines()[1:]}
    assert recs["utt0"]["num_samples"] == 3000 and recs["utt0"]["num_frames"] == 3
    after = {p.name: p.stat().st_mtime_ns for p in (out / "npy").glob("*.npy")}
    assert after["utt0.npy"] != npys["utt0.npy"]
    assert all(after[k] == v for k, v in npys.items() if k != "utt0.npy")
    assert "3 resumed; 1 redone" in caplog.text


def test_encode_into_an_unstamped_dir_redoes_everything(tiny_runner, wav_dir, tmp_path):
    out = tmp_path / "tok"
    encode_to_dir(tiny_runner, [str(wav_dir)], out)
    (out / ".stamp.json").unlink()  # a dir written before stamps existed
    np.save(out / "npy" / "utt0.npy", np.zeros((2, 2), np.int16))  # stale tokens
    jsonl = encode_to_dir(tiny_runner, [str(wav_dir)], out)
    rec = json.loads(jsonl.read_text().splitlines()[1])
    assert rec["key"] == "utt0" and rec["num_frames"] == 13


def test_decode_resume_refuses_another_checkpoint_redoes_changed_tokens_and_logs(
    tiny_codec_files, tiny_runner, wav_dir, tmp_path, make_codec_dir, make_conf, caplog
):
    lines = _token_lines(tiny_runner, wav_dir, tmp_path / "tok")
    jsonl = tmp_path / "tok" / "tokens.jsonl"
    dec = tmp_path / "dec"
    decode_to_dir(tiny_runner, jsonl, dec)
    mtimes = {p.name: p.stat().st_mtime_ns for p in (dec / "wav").glob("*.wav")}
    with caplog.at_level(logging.INFO):
        decode_to_dir(tiny_runner, jsonl, dec)
    assert "decoded 0 utterances (4 resumed" in caplog.text
    _, other_pth = make_codec_dir(tmp_path, make_conf(), name="other", seed=1)
    other = CodecRunner.from_files(tiny_codec_files[0], other_pth)
    with pytest.raises(CodecModelError, match=rf"{dec}: was written with model .*{other_pth}"):
        decode_to_dir(other, jsonl, dec)
    # change the tokens of utt1: only its WAV is decoded again
    rec = json.loads(lines[2])
    rec["tokens"] = [[(a + 1) % 15, b] for a, b in rec["tokens"]]
    lines[2] = json.dumps(rec)
    jsonl.write_text("\n".join(lines) + "\n")
    caplog.clear()
    with caplog.at_level(logging.INFO):
        decode_to_dir(tiny_runner, jsonl, dec)
    after = {p.name: p.stat().st_mtime_ns for p in (dec / "wav").glob("*.wav")}
    assert after["utt1.wav"] != mtimes["utt1.wav"]
    assert all(after[k] == v for k, v in mtimes.items() if k != "utt1.wav")
    assert "decoded 1 utterances (3 resumed; 1 redone" in caplog.text
    stamp = json.loads((dec / ".stamp.json").read_text())
    assert stamp["model_digest"] and stamp["tokens_digest"]


# 3. inconsistent and duplicate token records
def test_token_records_must_agree_with_num_frames_and_num_samples(
    tiny_runner, wav_dir, tmp_path
):
    lines = _token_lines(tiny_runner, wav_dir, tmp_path / "tok")
    spf = tiny_runner.generator.samples_per_frame
    cases = []
    rec = json.loads(lines[1])
    rec["tokens"] = rec["tokens"][:5]
    cases.append((rec, r"'utt0' has 5 token frames but num_frames 13"))
    rec = json.loads(lines[1])
    rec["num_samples"] = 20 * spf
    cases.append((rec, rf"'utt0' has num_samples {20 * spf}, which needs 20 frames"))
    rec = json.loads(lines[1])
    rec["tokens"], rec["num_frames"] = rec["tokens"][:5], 5
    cases.append((rec, r"'utt0' has num_samples 16000, which needs 13 frames .* but 5"))
    for i, (rec, msg) in enumerate(cases):
        bad = tmp_path / f"bad{i}.jsonl"
        bad.write_text("\n".join([lines[0], lines[2], json.dumps(rec)]) + "\n")
        with pytest.raises(DataFileError, match=rf"{bad}:3: {msg}"):
            decode_to_dir(tiny_runner, bad, tmp_path / f"dec{i}")
    dup = tmp_path / "dup.jsonl"
    dup.write_text("\n".join([lines[0], lines[1], lines[2], lines[1]]) + "\n")
    msg = rf"{dup}:4: duplicate key 'utt0' \(first at line 2\)"
    with pytest.raises(DataFileError, match=msg):
        read_token_file(dup)


# 4. scoring
def test_score_key_missing_from_token_dir_is_one_line_error(
    tiny_codec_files, wav_dir, tmp_path
):
    config, model = (str(p) for p in tiny_codec_files)
    tok, dec = tmp_path / "tok", tmp_path / "dec"
    first = tmp_path / "first.scp"
    first.write_text(wav_dir.read_text().splitlines(True)[0])
    codec_encode.main([str(first), "--config", config, "--model_file", model,
                       "--out_dir", str(tok)])
    hyp = tmp_path / "hyp.scp"
    hyp.write_text("".join(f"{ln.split()[0]} {ln.split()[1]}\n"
                           for ln in wav_dir.read_text().splitlines()[:2]))
    ref = tmp_path / "ref.scp"
    ref.write_text("".join(wav_dir.read_text().splitlines(True)[:2]))
    msg = rf"codec_score: error: {tok / 'tokens.jsonl'}: no tokens for 1 keys .*utt1"
    with pytest.raises(SystemExit, match=msg):
        codec_score.main(["--ref_scp", str(ref), "--hyp_scp", str(hyp), "--token_dir",
                          str(tok), "--out_dir", str(tmp_path / "sc"), "--no_anchors"])


def test_silent_reference_metrics_are_undefined_not_zero(make_speech, tmp_path):
    zeros = np.zeros(16000, np.float32)
    m = scoring.utterance_metrics(zeros, make_speech(16000, 1))
    assert all(np.isnan(m[k]) for k in ("stoi", "pesq", "mcd"))
    refs = {"silent": zeros}
    res = scoring.score_system(refs, lambda k, r: (make_speech(16000, 2), 1.0))
    assert np.isnan(res["stoi"]) and res["silent_refs"] == 1 and res["pesq_failed"] == 0
    row = {"system": "x", "bitrate": 1.0, "bitrate_measured": 1.0,
           "tokens_per_second": None, **res}
    assert "| x | 1.0 | 1.0 | - | - | - | - | 1 |" in scoring.format_table([row])
    scoring.write_results([row], tmp_path)
    assert json.loads((tmp_path / "scores.json").read_text())[0]["stoi"] is None
    # a silent reference beside speech: the mean is over the speech one only
    refs = {"silent": zeros, "speech": make_speech(16000, 3)}
    res = scoring.score_system(refs, lambda k, r: (r, 1.0))
    assert res["stoi"] == pytest.approx(1.0, abs=1e-6) and res["silent_refs"] == 1


# 5. a training config instead of the exp dir's config.yaml
def test_training_config_is_refused_with_a_hint(tiny_codec_files, tmp_path, wav_dir):
    train_conf = os.path.join(
        os.path.dirname(__file__), "..", "..", "..", "egs2", "mini_mix", "codec1", "conf",
        "train_codec.yaml",
    )
    _, model = tiny_codec_files
    with pytest.raises(SystemExit, match=r"codec_encode: error: .*train_codec.yaml: not a "
                       r"codec_train output config .*exp/<dir>/config.yaml"):
        codec_encode.main([str(wav_dir), "--config", train_conf, "--model_file", str(model),
                           "--out_dir", str(tmp_path / "t")])


# 6. --resample hint
def test_wrong_rate_error_says_to_pass_resample(tiny_runner, tmp_path, make_speech):
    w = tmp_path / "a8k.wav"
    soundfile.write(w, make_speech(8000, 0, fs=8000), 8000, subtype="PCM_16")
    with pytest.raises(AudioError, match=r"sample rate 8000 Hz, expected 16000 Hz; pass "
                       r"--resample \(a bare flag, no value\)"):
        encode_to_dir(tiny_runner, [str(w)], tmp_path / "tok")
    scp = tmp_path / "w.scp"
    scp.write_text(f"a8k {w}\n")
    with pytest.raises(AudioError, match=rf"{scp}:1: .*pass --resample"):
        encode_to_dir(tiny_runner, [str(scp)], tmp_path / "tok")
    out = encode_to_dir(tiny_runner, [str(scp)], tmp_path / "tok", resample=True)
    assert json.loads(out.read_text().splitlines()[1])["num_samples"] == 16000


# 7. wording of path errors
def test_path_errors_say_what_is_wrong(tiny_codec_files, tiny_runner, wav_dir, tmp_path):
    config, model = (str(p) for p in tiny_codec_files)
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(SystemExit, match=rf"codec_encode: error: {afile}: exists and is not "
                       "a directory"):
        codec_encode.main([str(wav_dir), "--config", config, "--model_file", model,
                           "--out_dir", str(afile)])
    encode_to_dir(tiny_runner, [str(wav_dir)], tmp_path / "tok")
    with pytest.raises(SystemExit, match=rf"codec_decode: error: {afile}: exists and is not "
                       "a directory"):
        codec_decode.main(["--config", config, "--model_file", model, "--tokens",
                           str(tmp_path / "tok" / "tokens.jsonl"), "--out_dir", str(afile)])
    with pytest.raises(SystemExit, match=rf"codec_decode: error: {tmp_path / 'tok'}: is a "
                       "directory; pass the tokens.jsonl"):
        codec_decode.main(["--config", config, "--model_file", model, "--tokens",
                           str(tmp_path / "tok"), "--out_dir", str(tmp_path / "d")])
    with pytest.raises(SystemExit, match=rf"codec_encode: error: {wav_dir.parent / 'wav'}: "
                       "is a directory; pass audio files or a wav.scp"):
        codec_encode.main([str(wav_dir.parent / "wav"), "--config", config, "--model_file",
                           model, "--out_dir", str(tmp_path / "t2")])


def test_key_with_whitespace_is_refused(tiny_runner, wav_dir, tmp_path):
    """A plain audio file named 'a b.wav' would give a key that breaks wav.scp."""
    src = wav_dir.read_text().splitlines()[0].split()[1]
    spaced = tmp_path / "a b.wav"
    spaced.write_bytes(open(src, "rb").read())
    with pytest.raises(DataFileError, match=rf"{spaced}: utterance key 'a b' contains "
                       "whitespace"):
        encode_to_dir(tiny_runner, [str(spaced)], tmp_path / "tok")


def test_curve_of_silent_references_reports_undefined(tmp_path):
    rows = [{"epoch": 1, "steps": 10, "minutes": None, "stoi": float("nan"),
             "pesq": float("nan"), "mcd": float("nan"), "num_utts": 1}]
    table = scoring.write_curve(rows, tmp_path)
    assert "| 1 | 10 | - | - | - | - |" in table
    assert json.loads((tmp_path / "curve.json").read_text())[0]["stoi"] is None


def test_curve_cli_writes_table_and_json(tiny_codec_files, wav_dir, tmp_path, capsys):
    import shutil

    config, model = tiny_codec_files
    exp = tmp_path / "exp"
    exp.mkdir()
    shutil.copy(config, exp / "config.yaml")
    shutil.copy(model, exp / "1epoch.pth")
    codec_score.main(["--ref_scp", str(wav_dir), "--curve_exp", str(exp), "--max_utts", "1",
                      "--out_dir", str(tmp_path / "c")])
    rows = json.loads((tmp_path / "c" / "curve.json").read_text())
    assert rows[0]["epoch"] == 1 and 0.0 <= rows[0]["stoi"] <= 1.0
    assert "| 1 | None | - |" in capsys.readouterr().out

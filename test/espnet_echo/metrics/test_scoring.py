# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of espnet_echo.metrics.scoring on the synthetic reference dirs of conftest.py."""

import json
import os
import shutil

import numpy as np
import pytest
import soundfile

from espnet_echo.metrics.scoring import score, write_scores
from espnet_echo.utils.audio import AudioError
from espnet_echo.utils.fileio import DataFileError


def test_oracle_scores_perfect(ref_dir, make_hyp):
    hyp = make_hyp(ref_dir, "oracle")
    write_scores(score(ref_dir, hyp, name="oracle/test"), hyp / "score")
    s = json.loads((hyp / "score" / "scores.json").read_text())
    assert s["name"] == "oracle/test" and s["num_utts"] == 2
    assert [e["collar"] for e in s["der"]] == [0.0, 0.25]
    for e in s["der"]:
        assert e["der"] == pytest.approx(0.0, abs=1e-9)
    assert s["der"][0]["scored_speech_s"] == pytest.approx(0.6 + 0.6 + 0.6)
    assert s["wer"]["wer"] == 0.0 and s["cpwer"]["wer"] == 0.0
    assert s["wer"]["ref_words"] == 7
    assert s["speaker_count"]["accuracy"] == 100.0
    assert s["sisdr"]["si_sdr"] > 99 and s["sisdr"]["missed_sources"] == 0
    assert s["info"] == {}
    md = (hyp / "score" / "scores.md").read_text()
    assert md.startswith("# oracle/test\n\n")
    assert "|oracle/test|2|0.00|0.00|0.00/0.00/0.00|" in md
    assert f"- hyp_dir: `{hyp.resolve()}`" in md


def test_one_speaker_baseline(ref_dir, make_hyp):
    s = score(ref_dir, make_hyp(ref_dir, "one_speaker"))
    assert s["wer"]["wer"] == pytest.approx(100.0)
    assert s["cpwer"]["wer"] == pytest.approx(100.0)
    assert s["cpwer"]["missed_speakers"] == 1
    assert s["sisdr"]["si_sdri"] == pytest.approx(0.0, abs=1e-6)
    assert s["sisdr"]["missed_sources"] == 1 and s["sisdr"]["num_sources"] == 3
    assert s["speaker_count"]["accuracy"] == pytest.approx(50.0)
    assert s["speaker_count"]["mean_abs_error"] == pytest.approx(0.5)
    # mix0: [0.4,0.6] overlap -> 0.2 s missed, one of the speakers' solo part -> 0.4 s
    # confusion; mix1 perfect.  Reference speech 1.8 s.
    der0 = s["der"][0]
    assert der0["missed_s"] == pytest.approx(0.2) and der0["confusion_s"] == pytest.approx(0.4)
    assert der0["der"] == pytest.approx(100 * 0.6 / 1.8)


def test_scores_per_speaker_count(ref_dir, make_hyp):
    # mix0 K=2 (one-speaker output misses b's solo part and the overlap), mix1 K=1 (perfect)
    s = score(ref_dir, make_hyp(ref_dir, "one_speaker"))
    by_k = s["by_num_spk"]
    assert list(by_k) == ["1", "2"]
    assert by_k["1"]["num_utts"] == 1 and by_k["2"]["num_utts"] == 1
    assert by_k["1"]["der"][0]["der"] == pytest.approx(0.0, abs=1e-9)
    assert by_k["2"]["der"][0]["der"] == pytest.approx(100 * 0.6 / 1.2)
    # the K subsets partition the corpus: counts add up to the totals
    for task in ("wer", "cpwer"):
        assert sum(by_k[k][task]["errors"] for k in by_k) == s[task]["errors"]
        assert sum(by_k[k][task]["ref_words"] for k in by_k) == s[task]["ref_words"]
    assert by_k["2"]["cpwer"]["missed_speakers"] == 1
    assert by_k["1"]["cpwer"]["missed_speakers"] == 0
    assert by_k["1"]["sisdr"]["num_sources"] + by_k["2"]["sisdr"]["num_sources"] == 3
    assert by_k["2"]["sisdr"]["missed_sources"] == 1
    speech = [by_k[k]["der"][0]["scored_speech_s"] for k in by_k]
    assert sum(speech) == pytest.approx(s["der"][0]["scored_speech_s"])


def test_missing_tasks_and_utts_reported(ref_dir, tmp_path):
    hyp = tmp_path / "partial"
    hyp.mkdir()
    (hyp / "utt2num_spk").write_text("test_mix000000 2\n")  # mix1 missing
    s = score(ref_dir, hyp, collars=[0.0])
    assert s["der"] is None and s["sisdr"] is None and s["wer"] is None and s["cpwer"] is None
    assert s["speaker_count"]["num_utts_missing"] == 1
    assert s["speaker_count"]["accuracy"] == pytest.approx(50.0)
    (hyp / "rttm").write_text("")  # empty hypothesis rttm: all speech missed
    (hyp / "text_spk1").write_text("test_mix000000 HELLO WORLD\n")
    s = score(ref_dir, hyp, collars=[0.0])
    assert s["der"][0]["der"] == pytest.approx(100.0) and s["der"][0]["num_utts_missing"] == 2
    assert s["wer"]["errors"] == 5 and s["wer"]["num_utts_missing"] == 1


def test_default_name_collars_and_info(ref_dir, make_hyp):
    hyp = make_hyp(ref_dir, "one_speaker")
    (hyp / "spk1.scp").unlink()  # no separation output -> sisdr None
    (hyp / "info.json").write_text('{"rtf": 0.5}')
    s = score(ref_dir, hyp, collars=[0.1])
    assert [e["collar"] for e in s["der"]] == [0.1] and s["sisdr"] is None
    assert s["name"] == "one_speaker/decode_test" and s["info"] == {"rtf": 0.5}
    (hyp / "info.json").write_text("[1]")
    with pytest.raises(DataFileError, match="info.json: expected a JSON object, got list"):
        score(ref_dir, hyp)
    with pytest.raises(ValueError, match="--collar must be finite and >= 0"):
        score(ref_dir, hyp, collars=[-0.1])
    with pytest.raises(DataFileError, match="nope: hypothesis dir not found"):
        score(ref_dir, hyp.parent / "nope")


def _copy_hyp(ref_dir, make_hyp, tmp_path, name):
    dst = tmp_path / name
    shutil.copytree(make_hyp(ref_dir, "oracle"), dst)
    return dst


@pytest.mark.parametrize("name, line, error", [
    ("rttm", "SPEAKER test_mix000000 1 0.5 <NA> <NA> x <NA> <NA>",
     r"rttm:4: .* must be numbers"),
    ("text_spk1", "test_mix000099 HELLO", r"text_spk1:3: .*'test_mix000099'"),
])
def test_bad_hypothesis_line_names_file_and_line(ref_dir, make_hyp, tmp_path, name, line,
                                                 error):
    hyp = _copy_hyp(ref_dir, make_hyp, tmp_path, "bad")
    with open(hyp / name, "a") as f:
        f.write(line + "\n")
    with pytest.raises(DataFileError, match=f"{hyp}/{error}"):
        score(ref_dir, hyp)


def test_wrong_sample_rate_names_file(ref_dir, make_hyp, tmp_path):
    hyp = _copy_hyp(ref_dir, make_hyp, tmp_path, "bad_fs")
    bad = tmp_path / "est8k.wav"
    soundfile.write(str(bad), np.zeros(8000, dtype=np.int16), 8000, subtype="PCM_16")
    (hyp / "spk1.scp").write_text(
        f"test_mix000000 {bad}\n"
        + (hyp / "spk1.scp").read_text().splitlines(keepends=True)[1]
    )
    with pytest.raises(AudioError, match=rf"spk1.scp:1: {bad}: sample rate 8000 Hz"):
        score(ref_dir, hyp)


def test_gap_in_numbered_files(ref_dir, make_hyp, tmp_path):
    hyp = _copy_hyp(ref_dir, make_hyp, tmp_path, "gap")
    os.rename(hyp / "text_spk2", hyp / "text_spk3")
    with pytest.raises(DataFileError, match="text_spk2: file not found"):
        score(ref_dir, hyp)


def test_dump_layout_reference(dump_dir, make_hyp):
    s = score(dump_dir, make_hyp(dump_dir, "oracle"))
    assert s["wer"]["wer"] == 0.0 and s["cpwer"]["false_speakers"] == 0
    assert s["wer"]["ref_words"] == 7
    assert s["sisdr"]["si_sdr"] > 99 and s["sisdr"]["num_sources"] == 3
    one = score(dump_dir, make_hyp(dump_dir, "one_speaker"))
    assert one["cpwer"]["missed_speakers"] == 1 and one["sisdr"]["missed_sources"] == 1


def test_reference_transcript_beyond_k_is_an_error(dump_dir, make_hyp, tmp_path):
    bad = tmp_path / "bad_dump"
    shutil.copytree(dump_dir, bad)
    (bad / "text_spk2").write_text("test_mix000000 FOO BAR BAZ\ntest_mix000001 EXTRA\n")
    hyp = make_hyp(dump_dir, "one_speaker")
    with pytest.raises(DataFileError, match=r"text_spk2:2: .*K=1"):
        score(bad, hyp)

import json

import numpy as np
import pytest
import soundfile
from meeteval.io import SegLST
from meeteval.wer import cpwer

from espnet_echo.data.rttm import read_rttm
from espnet_echo.inference.result import EchoResult, Word
from espnet_echo.metrics.wer import cp_wer


def _result():
    """Two speakers: spk0 talks 0-2 s and 4-6 s, spk1 1.5-4 s; words inside turns,
    one word of spk1 just outside its turn (goes to the nearest turn)."""
    words = [
        [Word("AND", 0.1, 0.2), Word("ESAU", 0.5, 0.7), Word("WEPT", 4.2, 4.4),
         Word("SORE", 5.0, 5.1)],
        [Word("HAVE", 1.6, 1.7), Word("YE", 2.0, 2.1), Word("READ", 4.05, 4.2)],
    ]
    return EchoResult(
        num_spk=2,
        segments=[(0.0, 2.0, 0), (1.5, 4.0, 1), (4.0, 6.0, 0)],
        exclusive_segments=[(0.0, 2.0, 0), (2.0, 4.0, 1), (4.0, 6.0, 0)],
        sources=np.stack([np.full(16000, 0.1), np.full(16000, -0.2)]).astype(np.float32),
        texts=[" ".join(w.text for w in ws) for ws in words],
        words=words, name="rec1", duration=6.0,
    )


def test_seglst_groups_words_into_turns_and_keeps_each_speakers_transcript():
    res = _result()
    segs = res.to_seglst()
    assert [(s["speaker"], s["words"]) for s in segs] == [
        ("spk0", "AND ESAU"), ("spk1", "HAVE YE READ"), ("spk0", "WEPT SORE")]
    assert segs[1]["start_time"] == 1.5 and segs[1]["end_time"] == 4.2  # turn + its words
    assert segs[0]["words_detail"][1] == dict(word="ESAU", start_time=0.5, end_time=0.7)
    for k, text in enumerate(res.texts):  # a speaker's segments in order = its text
        joined = " ".join(s["words"] for s in segs if s["speaker"] == f"spk{k}")
        assert joined == text
    assert res.to_stm()[0] == "rec1 1 spk0 0.000 2.000 AND ESAU"


def test_cpwer_from_the_seglst_equals_cpwer_from_per_speaker_texts(tmp_path):
    res = _result()
    refs = ["AND ESAU WEPT", "HAVE YE NOT READ"]
    ref = SegLST([dict(session_id="rec1", speaker=f"r{k}", start_time=0, end_time=6,
                       words=t) for k, t in enumerate(refs)])
    written = res.write(tmp_path, ["seglst"])
    hyp = SegLST(json.loads(written[0].read_text()))  # the file meeteval would read
    seglst_cp = cpwer(ref, hyp)["rec1"]
    text_cp = cp_wer(refs, res.texts)
    assert seglst_cp.errors == text_cp.errors == 2 and seglst_cp.length == text_cp.ref_words


def test_write_all_formats(tmp_path):
    res = _result()
    files = {p.name for p in res.write(tmp_path)}
    assert files == {"rec1.rttm", "rec1.exclusive.rttm", "rec1_spk0.wav", "rec1_spk1.wav",
                     "rec1.seglst.json", "rec1.stm", "rec1.txt"}
    ann = read_rttm(tmp_path / "rec1.rttm")["rec1"]
    assert ann.labels() == ["spk0", "spk1"] and ann.label_duration("spk0") == 4.0
    excl = read_rttm(tmp_path / "rec1.exclusive.rttm")["rec1"]
    assert not excl.get_overlap()  # no two speakers at once
    track, fs = soundfile.read(tmp_path / "rec1_spk1.wav")
    assert fs == 16000 and track.shape == (16000,) and track[0] == pytest.approx(-0.2, abs=1e-4)
    assert (tmp_path / "rec1.txt").read_text().splitlines()[1] == "spk1: HAVE YE READ"
    assert json.loads((tmp_path / "rec1.seglst.json").read_text())[0]["session_id"] == "rec1"
    assert res.annotation(exclusive=True).labels() == ["spk0", "spk1"]
    with pytest.raises(ValueError, match="unknown output format"):
        res.write(tmp_path, ["mp3"])


def test_no_words_no_sources_writes_turns_only(tmp_path):
    res = EchoResult(num_spk=1, segments=[(0.0, 1.0, 0)], name="r")
    assert {p.name for p in res.write(tmp_path)} == {"r.rttm"}
    assert res.to_seglst() == [] and res.annotation().labels() == ["spk0"]
    with pytest.raises(ValueError, match="no exclusive diarization"):
        res.annotation(exclusive=True)

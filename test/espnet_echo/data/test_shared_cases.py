# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""The two user cases of issue #14 (``segments-file``, ``resample-rttm``) as tests.

The inputs are rebuilt here (same files, same relative paths, same audio lengths and
rates; the audio content is generated), and the values checked are those of each case's
``expected.txt``. As in the cases' ``run.sh``, the tool runs from the case folder, so the
relative wav paths resolve against the working dir (Kaldi convention).
"""

from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet_echo.bin.format_data import main
from espnet_echo.data.rttm import read_espnet_rttm, read_rttm, read_rttm_segments
from espnet_echo.metrics.der import compute_der


def _write(path: Path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _lines(path: Path):
    return path.read_text(encoding="utf-8").splitlines()


def _wav(path: Path, n: int, fs: int, seed: int, active=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.random.default_rng(seed).integers(-2000, 2000, n).astype(np.int16)
    if active is not None:
        mask = np.zeros(n, bool)
        mask[active[0]: active[1]] = True
        x[~mask] = 0
    soundfile.write(path, x, fs, subtype="PCM_16")
    return x


# ----------------------------------------------------------------------------------------
# segments-file
# ----------------------------------------------------------------------------------------
@pytest.fixture
def segments_case(tmp_path, monkeypatch):
    case = tmp_path / "segments-file"
    for d in ("data", "data2"):
        _wav(case / d / "wav" / "rec1.wav", 96000, 16000, seed=1)  # 6.0 s recording
        _write(case / d / "wav.scp", [f"rec1 {d}/wav/rec1.wav"])
    _write(case / "data" / "segments", ["rec1_a rec1 0.00 3.00", "rec1_b rec1 3.00 6.00"])
    _write(case / "data" / "text_spk1", [
        "rec1_a FIRST PART OF THE LONG RECORDING", "rec1_b AND HERE IS THE SECOND PART"
    ])
    _write(case / "data" / "utt2num_spk", ["rec1_a 1", "rec1_b 1"])
    _write(case / "data" / "utt2spk", ["rec1_a rec1_a", "rec1_b rec1_b"])
    _write(case / "data2" / "segments", ["rec1_a rec1 0.00 3.00"])
    _write(case / "data2" / "text_spk1", ["rec1 FIRST PART OF THE LONG RECORDING"])
    _write(case / "data2" / "utt2num_spk", ["rec1 1"])
    monkeypatch.chdir(case)
    return case


def test_segments_file_data_is_cut_as_listed(segments_case, tmp_path):
    dst = tmp_path / "out" / "dump"
    main(["--src", "data", "--dst", str(dst), "--num_spk", "1"])
    # expected.txt: utterances cut as listed, rec1_a = 48000 samples
    assert _lines(dst / "utt2num_samples") == ["rec1_a 48000", "rec1_b 48000"]
    rec = soundfile.read(segments_case / "data" / "wav" / "rec1.wav", dtype="int16")[0]
    for utt, line in (line.split(maxsplit=1) for line in _lines(dst / "wav.scp")):
        cut = soundfile.read(line, dtype="int16")[0]
        begin = 0 if utt == "rec1_a" else 48000
        np.testing.assert_array_equal(cut, rec[begin: begin + 48000])
    assert _lines(dst / "text_spk1") == [
        "rec1_a FIRST PART OF THE LONG RECORDING", "rec1_b AND HERE IS THE SECOND PART"
    ]


def test_segments_file_data2_is_never_dumped_whole(segments_case, tmp_path, capsys):
    dst = tmp_path / "out" / "dump2"
    with pytest.raises(SystemExit) as e:
        main(["--src", "data2", "--dst", str(dst), "--num_spk", "1"])
    msg = str(e.value.code)
    # one clear error naming the file and line and data2/segments, never a 96000 dump
    assert msg.startswith("format_data: error: data2/text_spk1:1: 'rec1' is a recording id ")
    assert "data2/segments cuts the recordings into utterances" in msg
    assert not dst.exists()
    # with the per-utterance files keyed as Kaldi keys them: one utterance rec1_a, 48000
    _write(segments_case / "data2" / "text_spk1", ["rec1_a FIRST PART OF THE LONG RECORDING"])
    _write(segments_case / "data2" / "utt2num_spk", ["rec1_a 1"])
    main(["--src", "data2", "--dst", str(dst), "--num_spk", "1"])
    assert _lines(dst / "utt2num_samples") == ["rec1_a 48000"]


# ----------------------------------------------------------------------------------------
# resample-rttm
# ----------------------------------------------------------------------------------------
@pytest.fixture
def resample_case(tmp_path, monkeypatch):
    case = tmp_path / "resample-rttm"
    a = _wav(case / "data" / "wav" / "u1_s1.wav", 24000, 8000, 1, active=(1760, 9920))
    b = _wav(case / "data" / "wav" / "u1_s2.wav", 24000, 8000, 2, active=(12000, 22560))
    soundfile.write(case / "data" / "wav" / "u1_mix.wav", a + b, 8000, subtype="PCM_16")
    _write(case / "data" / "wav.scp", ["u1 data/wav/u1_mix.wav"])
    _write(case / "data" / "spk1.scp", ["u1 data/wav/u1_s1.wav"])
    _write(case / "data" / "spk2.scp", ["u1 data/wav/u1_s2.wav"])
    _write(case / "data" / "utt2num_spk", ["u1 2"])
    _write(case / "data" / "espnet_rttm", [
        "SPEAKER u1 1 1760 9920 <NA> <NA> A <NA>",
        "SPEAKER u1 1 12000 22560 <NA> <NA> B <NA>",
        "END u1 <NA> <NA> 24000 <NA> <NA> <NA> <NA>",
    ])
    _write(case / "hyp" / "rttm", [
        "SPEAKER u1 1 0.220 1.020 <NA> <NA> s1 <NA> <NA>",
        "SPEAKER u1 1 1.500 1.320 <NA> <NA> s2 <NA> <NA>",
    ])
    monkeypatch.chdir(case)
    return case


def test_resample_rttm_carries_every_time_label(resample_case, tmp_path):
    dst = tmp_path / "out" / "dump"
    main(["--src", "data", "--dst", str(dst), "--num_spk", "2", "--resample", "true"])
    # expected.txt: dump/espnet_rttm at 16 kHz: A 3520 19840, B 24000 45120, END 48000
    ertm = read_espnet_rttm(dst / "espnet_rttm")["u1"]
    assert ertm.events == [("A", 3520, 19840), ("B", 24000, 45120)]
    assert ertm.num_samples == 48000
    # expected.txt: dump/rttm (seconds): A 0.2200 1.0200, B 1.5000 1.3200 (times unchanged)
    segs = read_rttm_segments(dst / "rttm")["u1"]
    assert [(s.spk, s.start, s.dur) for s in segs] == [
        ("A", pytest.approx(0.22, abs=1e-9), pytest.approx(1.02, abs=1e-9)),
        ("B", pytest.approx(1.5, abs=1e-9), pytest.approx(1.32, abs=1e-9)),
    ]
    assert _lines(dst / "utt2num_samples") == ["u1 48000"]
    # expected.txt: the exact hypothesis against that dump: DER 0.00 %, scored 2.34 s
    result = compute_der(
        read_rttm(dst / "rttm"), read_rttm(resample_case / "hyp" / "rttm"), {"u1": 3.0}, 0.0
    )
    assert result.der == pytest.approx(0.0, abs=1e-9)
    assert result.scored_speech_s == pytest.approx(2.34)

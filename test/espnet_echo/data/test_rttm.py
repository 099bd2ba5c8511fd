# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of espnet_echo.data.rttm: the one RTTM (seconds and samples) and UEM reader/writer."""

from pathlib import Path

import numpy as np
import pytest

from espnet_echo.data import rttm as R
from espnet_echo.utils.fileio import DataFileError


def _write(path: Path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_seconds_rules_comments_other_types_zero_length(tmp_path):
    path = _write(
        tmp_path / "rttm",
        [
            ";; a comment",
            "",
            "SPKR-INFO u 1 <NA> <NA> <NA> unknown a <NA> <NA>",
            "SPEAKER u 1 0.50 1.00 <NA> <NA> a <NA> <NA>",
            "SPEAKER u 1 2.00 0.00 <NA> <NA> b <NA> <NA>",  # zero length: dropped
            "SPEAKER z 1 1.00 0 <NA> <NA> c <NA>",  # 9 fields (Kaldi), zero length only
            "SPEAKER v A 0.25 0.5 <NA> <NA> d <NA> <NA>",
        ],
    )
    segs = R.read_rttm_segments(path)
    assert list(segs) == ["u", "z", "v"]
    assert [(s.spk, s.start, s.dur, s.lineno) for s in segs["u"]] == [("a", 0.5, 1.0, 4)]
    assert segs["z"] == []  # listed, but no speech
    assert (segs["v"][0].chan, segs["v"][0].end) == ("A", 0.75)
    # the pyannote view follows the same rules (one parser)
    anns = R.read_rttm(path)
    assert list(anns) == ["u", "z", "v"]
    assert anns["u"].labels() == ["a"] and len(anns["z"]) == 0
    assert anns["u"].get_timeline()[0].duration == pytest.approx(1.0)


@pytest.mark.parametrize(
    "line, match",
    [
        ("SPEAKER u 1 0.0 1.0 <NA> <NA> a", "expected 10 fields"),
        ("SPEAKER u 1 zero 1.0 <NA> <NA> a <NA> <NA>", "must be numbers"),
        ("SPEAKER u 1 0.0 -1.0 <NA> <NA> a <NA> <NA>", "finite and >= 0"),
        ("SPEAKER u 1 inf 1.0 <NA> <NA> a <NA> <NA>", "finite"),
        ("SPEEKER u 1 0.0 1.0 <NA> <NA> a <NA> <NA>", "unknown RTTM type 'SPEEKER'"),
        ("SPEAKER zz 1 0.0 1.0 <NA> <NA> a <NA> <NA>", "'zz' is not in the reference"),
    ],
)
def test_seconds_bad_line_names_file_and_line(tmp_path, line, match):
    path = _write(tmp_path / "rttm", [";; c", "SPEAKER u 1 0 1 <NA> <NA> a <NA> <NA>", line])
    with pytest.raises(DataFileError, match=match) as e:
        R.read_rttm_segments(path, known_utts={"u"})
    assert str(e.value).startswith(f"{path}:3: ")


@pytest.mark.parametrize("fs", [8000, 16000, 22050, 44100, 48000])
def test_written_seconds_give_the_sample_back(fs):
    rng = np.random.default_rng(fs)
    for start, length in rng.integers(0, 10**7, (200, 2)):
        line = R.format_rttm_line("u", start / fs, length / fs, "a")
        f = line.split()
        assert R.seconds_to_samples(float(f[3]), fs) == start
        assert R.seconds_to_samples(float(f[3]) + float(f[4]), fs) == start + length


def test_write_rttm_of_annotations(tmp_path):
    from pyannote.core import Annotation, Segment

    ann = Annotation(uri="u")
    ann[Segment(1.0, 2.5)] = "b"
    ann[Segment(0.0, 0.5)] = "a"
    path = tmp_path / "rttm"
    R.write_rttm(path, {"u": ann, "e": Annotation(uri="e")})
    assert path.read_text().splitlines() == [
        "SPEAKER u 1 0.000 0.500 <NA> <NA> a <NA> <NA>",
        "SPEAKER u 1 1.000 1.500 <NA> <NA> b <NA> <NA>",
    ]
    R.write_rttm(path, {"u": ann}, decimals=6)
    assert path.read_text().splitlines()[1].split()[3:5] == ["1.000000", "1.500000"]


def test_der_module_reexports_the_one_reader_and_writer():
    from espnet_echo.metrics import der

    assert der.read_rttm is R.read_rttm and der.write_rttm is R.write_rttm


def test_espnet_rttm_round_trip_and_zero_length(tmp_path):
    events = [("A", 1760, 9920), ("B", 12000, 22560), ("A", 23000, 24000)]
    lines = R.format_espnet_rttm_lines("u1", events, 24000)
    lines += R.format_espnet_rttm_lines("u2", [("C", 5, 5), ("D", 0.0, 10)], 10)
    path = _write(tmp_path / "espnet_rttm", lines)
    table = R.read_espnet_rttm(path)
    assert table["u1"].events == events and table["u1"].speakers == ["A", "B"]
    assert table["u1"].num_samples == 24000 and table["u1"].end_lineno == 4
    assert table["u1"].event_linenos == [1, 2, 3]
    # zero-length turn dropped, its speaker is no label column; "0.0" is ESPnet-legal
    assert table["u2"].events == [("D", 0, 10)] and table["u2"].speakers == ["D"]
    # ESPnet's own reader sees the same file
    from espnet2.fileio.rttm import RttmReader

    assert RttmReader(str(path))["u1"].shape == (24000, 2)


@pytest.mark.parametrize(
    "line, match",
    [
        ("SPEAKER u 1 0 10 <NA> <NA> a <NA> <NA>", "expected 9 space-separated fields"),
        ("NOISE u 1 0 10 <NA> <NA> a <NA>", "type must be SPEAKER or END"),
        ("SPEAKER u 1 0.5 10 <NA> <NA> a <NA>", "must be integer sample indices"),
        ("SPEAKER u 1 20 10 <NA> <NA> a <NA>", "need 0 <= start <= end"),
        ("SPEAKER u 1 0 200 <NA> <NA> a <NA>", r"past the END of 'u' \(100 samples, line 1\)"),
        ("END u <NA> <NA> 50 <NA> <NA> <NA> <NA>", "second END line"),
        ("SPEAKER x 1 0 10 <NA> <NA> a <NA>", "'x' is not in wav.scp"),
    ],
)
def test_espnet_rttm_bad_line(tmp_path, line, match):
    path = _write(tmp_path / "espnet_rttm", ["END u <NA> <NA> 100 <NA> <NA> <NA> <NA>", line])
    with pytest.raises(DataFileError, match=match) as e:
        R.read_espnet_rttm(path, known_utts={"u"})
    assert str(e.value).startswith(f"{path}:2: ")


def test_espnet_rttm_missing_end(tmp_path):
    path = _write(tmp_path / "espnet_rttm", ["SPEAKER u 1 0 10 <NA> <NA> a <NA>"])
    with pytest.raises(DataFileError, match="'u' has no END line"):
        R.read_espnet_rttm(path)


def test_format_espnet_rttm_refuses_impossible_turns():
    with pytest.raises(ValueError, match="not inside"):
        R.format_espnet_rttm_lines("u", [("a", 0, 11)], 10)


def test_uem(tmp_path):
    path = _write(
        tmp_path / "uem",
        [";; scored", "u 1 0.0 1.5", "u 1 2.0 3.0", "v 1 0 4.25"],
    )
    uem = R.read_uem(path)
    assert [(r.start, r.end, r.lineno) for r in uem["u"]] == [(0.0, 1.5, 2), (2.0, 3.0, 3)]
    assert R.format_uem_line("v", 0, 4.25) == "v 1 0.000000 4.250000"
    _write(path, ["u 1 2.0 1.0"])
    with pytest.raises(DataFileError, match=r"uem:1: need finite 0 <= <tbeg> < <tend>"):
        R.read_uem(path)
    _write(path, ["u 1 2.0"])
    with pytest.raises(DataFileError, match=r"uem:1: expected 4 fields"):
        R.read_uem(path)

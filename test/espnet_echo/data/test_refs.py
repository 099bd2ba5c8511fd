# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of espnet_echo.data.refs (hypothesis-dir files, labelled sources of a data dir).

Reference sources and transcripts of both layouts are read by the data-dir reader
(``load_data_dir``); the tests that read them here check that it gives what the removed
``read_ref_sources``/``read_ref_texts`` gave.
"""

import re
from pathlib import Path

import pytest

from espnet_echo.data.datadir import load_data_dir
from espnet_echo.data.refs import line_of, read_indexed, read_labelled_sources, read_num_spk
from espnet_echo.utils.fileio import DataFileError

UTTS = {"m0": "/w/m0.wav", "m1": "/w/m1.wav"}


def _write(d: Path, name: str, *lines: str) -> Path:
    path = d / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


# Contract layout: m0 has K=2 (speakers a, b), m1 K=1 (speaker a).
DATA_DIR = {
    "utt2spks": ["m0 a b", "m1 a"],
    "spk1.scp": ["m0 /w/m0_s1.wav", "m1 /w/m1_s1.wav"],
    "spk2.scp": ["m0 /w/m0_s2.wav"],
    "text_spk1": ["m0 HELLO", "m1 ONE TWO"],
    "text_spk2": ["m0 FOO"],
}
# format_data layout of the same: speech_ref.scp, every utterance in every text_spk{n}.
DUMP_DIR = {
    "speech_ref.scp": ["m0 /w/m0_s1.wav /w/m0_s2.wav", "m1 /w/m1_s1.wav"],
    "text_spk1": ["m0 HELLO", "m1 ONE TWO"],
    "text_spk2": ["m0 FOO", "m1"],
    "text_spk3": ["m0", "m1"],
}


def _make(d: Path, files) -> Path:
    d.mkdir()
    _write(d, "wav.scp", *(f"{u} {p}" for u, p in UTTS.items()))
    _write(d, "utt2num_spk", "m0 2", "m1 1")
    for name, lines in files.items():
        _write(d, name, *lines)
    return d


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return _make(tmp_path / "data", DATA_DIR)


@pytest.fixture
def dump_dir(tmp_path: Path) -> Path:
    return _make(tmp_path / "dump", DUMP_DIR)


def test_both_layouts_read_the_same(data_dir, dump_dir):
    for d in (data_dir, dump_dir):
        ddir = load_data_dir(d)
        assert {u: ddir.sources(u) for u in ddir.utts} == {
            "m0": ["/w/m0_s1.wav", "/w/m0_s2.wav"], "m1": ["/w/m1_s1.wav"]
        }
        assert {u: ddir.texts(u) for u in ddir.utts} == {
            "m0": ["HELLO", "FOO"], "m1": ["ONE TWO"]
        }
    assert load_data_dir(data_dir).audio_entry("m0", 2) == (
        "/w/m0_s2.wav", f"{data_dir / 'spk2.scp'}:1"
    )


def test_absent_files_give_none(tmp_path):
    assert read_indexed(tmp_path, "scp") is None
    assert read_indexed(tmp_path / "nope", "text") is None


def test_hypothesis_entries_are_the_rest_of_the_line(tmp_path):
    _write(tmp_path, "spk1.scp", "m0 /w/with space.wav", "m1 sox /w/a.wav -t wav - |")
    assert read_indexed(tmp_path, "scp") == {
        "m0": [("/w/with space.wav", tmp_path / "spk1.scp")],
        "m1": [("sox /w/a.wav -t wav - |", tmp_path / "spk1.scp")],
    }
    _write(tmp_path, "spk01.scp", "m0 /w/x.wav")  # one naming rule with the data dirs
    with pytest.raises(DataFileError, match="spk01.scp: speaker index must be 1..6"):
        read_indexed(tmp_path, "scp")


def test_num_spk(data_dir):
    assert read_num_spk(data_dir / "utt2num_spk") == {"m0": 2, "m1": 1}
    bad = _write(data_dir, "utt2num_spk", "m0 2", "m1 -1")
    with pytest.raises(DataFileError, match=f"{bad}:2: speaker count must be an integer"):
        read_num_spk(bad)
    _write(data_dir, "utt2num_spk", "m0 2", "m9 1")
    with pytest.raises(DataFileError, match=f"{bad}:2: utterance 'm9' is not in the ref"):
        read_num_spk(bad, known_utts=UTTS)


def test_numbering_and_order_errors(data_dir):
    (data_dir / "text_spk2").rename(data_dir / "text_spk3")
    with pytest.raises(DataFileError, match="text_spk2: file not found, but text_spk3"):
        read_indexed(data_dir, "text")
    _write(data_dir, "spk1.scp", "m0 /w/m0_s1.wav")
    _write(data_dir, "spk2.scp", "m1 /w/x.wav")  # in spk2.scp but not in spk1.scp
    with pytest.raises(DataFileError, match=r"spk2.scp:1: utterance 'm1' is listed here but "
                       r"not in spk1.scp"):
        read_indexed(data_dir, "scp")


def test_counts_must_match_utt2num_spk(data_dir, dump_dir):
    (data_dir / "spk2.scp").unlink()
    with pytest.raises(DataFileError, match=r"spk2.scp: utterance 'm0' is missing; "
                       rf"{data_dir / 'utt2num_spk'}:1 says K=2"):
        load_data_dir(data_dir)
    _write(dump_dir, "text_spk3", "m0", "m1 EXTRA")
    with pytest.raises(DataFileError, match=r"text_spk3:2: utterance 'm1' has K=1 speakers"):
        load_data_dir(dump_dir)


def test_labelled_sources(data_dir, dump_dir):
    expected = [
        {"utt": "m0", "wav": "/w/m0_s1.wav", "spk": "a", "text": "HELLO"},
        {"utt": "m0", "wav": "/w/m0_s2.wav", "spk": "b", "text": "FOO"},
        {"utt": "m1", "wav": "/w/m1_s1.wav", "spk": "a", "text": "ONE TWO"},
    ]
    assert read_labelled_sources(data_dir) == expected
    subset = read_labelled_sources(data_dir, max_utts=1, seed=0)
    assert subset in (expected[:2], expected[2:])
    assert read_labelled_sources(data_dir, max_utts=1, seed=0) == subset
    with pytest.raises(DataFileError, match=f"{dump_dir / 'utt2spks'}: file not found"):
        read_labelled_sources(dump_dir)
    _write(data_dir, "utt2spks", "m0 a", "m1 a")  # refused by the data-dir reader
    with pytest.raises(DataFileError, match=r"utt2spks:1: 1 speaker ids but .*utt2num_spk:1 "
                       r"gives K=2"):
        read_labelled_sources(data_dir)
    _write(data_dir, "utt2spks", "m0 a b", "m1 a")
    for name in ("spk1.scp", "spk2.scp"):
        (data_dir / name).unlink()
    with pytest.raises(DataFileError, match=re.escape("no spk{n}.scp or speech_ref.scp")):
        read_labelled_sources(data_dir)


def test_line_of(data_dir):
    assert line_of(data_dir / "wav.scp", "m1") == 2
    assert line_of(data_dir / "wav.scp", "m9") == 0

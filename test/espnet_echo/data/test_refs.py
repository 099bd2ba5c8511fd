# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of espnet_echo.data.refs (per-speaker reference files of data and dump dirs)."""

import re
from pathlib import Path

import pytest

from espnet_echo.data.refs import (
    line_of,
    read_indexed,
    read_labelled_sources,
    read_num_spk,
    read_ref_sources,
    read_ref_texts,
)
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
        sources = read_ref_sources(d, UTTS)
        assert {u: [p for p, _ in v] for u, v in sources.items()} == {
            "m0": ["/w/m0_s1.wav", "/w/m0_s2.wav"], "m1": ["/w/m1_s1.wav"]
        }
        texts = read_ref_texts(d, UTTS)
        assert {u: [t for t, _ in v] for u, v in texts.items()} == {
            "m0": ["HELLO", "FOO"], "m1": ["ONE TWO"]
        }
    assert read_ref_texts(data_dir, UTTS)["m0"][1] == ("FOO", data_dir / "text_spk2")


def test_absent_files_give_none(tmp_path):
    assert read_indexed(tmp_path, "scp") is None
    assert read_ref_sources(tmp_path, UTTS) is None
    assert read_ref_texts(tmp_path, UTTS) is None


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
    with pytest.raises(DataFileError, match=r"utterance 'm0' has 1 reference sources, but "
                       rf"{data_dir / 'utt2num_spk'}:1 says K=2"):
        read_ref_sources(data_dir, UTTS)
    _write(dump_dir, "text_spk3", "m0", "m1 EXTRA")
    with pytest.raises(DataFileError, match=r"text_spk3:2: utterance 'm1' has K=1 speakers"):
        read_ref_texts(dump_dir, UTTS)


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
    _write(data_dir, "utt2spks", "m0 a", "m1 a")
    with pytest.raises(DataFileError, match=r"'m0' has 1 speakers but .*spk2.scp lists "
                       r"source 2"):
        read_labelled_sources(data_dir)
    for name in ("spk1.scp", "spk2.scp"):
        (data_dir / name).unlink()
    with pytest.raises(DataFileError, match=re.escape("no spk{n}.scp or speech_ref.scp")):
        read_labelled_sources(data_dir)


def test_line_of(data_dir):
    assert line_of(data_dir / "wav.scp", "m1") == 2
    assert line_of(data_dir / "wav.scp", "m9") == 0

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of espnet_echo.data.ssl_list (the unlabelled list of JEPA pretraining)."""

import pytest

from espnet_echo.data.ssl_list import STAMP, build_ssl_list, write_ssl_list
from espnet_echo.utils.fileio import DataFileError, read_kaldi_map, write_kaldi_map


@pytest.fixture
def dump(tmp_path):
    """Three mixtures; m2 has no entry in speech_ref.scp."""
    d = tmp_path / "dump"
    d.mkdir()
    write_kaldi_map(d / "wav.scp", {f"m{i}": f"/mix/m{i}.wav" for i in range(3)})
    write_kaldi_map(d / "utt2num_samples", {"m0": 800, "m1": 1600, "m2": 2400})
    write_kaldi_map(d / "speech_ref.scp", {"m0": "/s/a.wav /s/b.wav", "m1": "/s/c.wav"})
    return d


def test_build(dump):
    lists = build_ssl_list(dump)
    assert lists["wav.scp"] == {
        "m0": "/mix/m0.wav", "m1": "/mix/m1.wav", "m2": "/mix/m2.wav",
        "m0-src1": "/s/a.wav", "m0-src2": "/s/b.wav", "m1-src1": "/s/c.wav",
    }
    assert lists["speech_shape"] == {
        "m0": "800", "m1": "1600", "m2": "2400", "m0-src1": "800", "m0-src2": "800",
        "m1-src1": "1600",
    }
    without = build_ssl_list(dump, with_sources=False)
    assert sorted(without["wav.scp"]) == ["m0", "m1", "m2"]
    (dump / "speech_ref.scp").unlink()  # a dump without sources: mixtures only
    assert build_ssl_list(dump) == without


def test_write_is_skipped_while_current(dump, tmp_path):
    out = tmp_path / "ssl"
    assert write_ssl_list(dump, out) is True
    assert read_kaldi_map(out / "wav.scp") == build_ssl_list(dump)["wav.scp"]
    assert (out / STAMP).is_file()
    assert write_ssl_list(dump, out) is False
    assert write_ssl_list(dump, out, with_sources=False) is True
    assert sorted(read_kaldi_map(out / "wav.scp")) == ["m0", "m1", "m2"]


def test_malformed_dump_keeps_previous_output(dump, tmp_path):
    out = tmp_path / "ssl"
    write_ssl_list(dump, out)
    before = (out / "speech_shape").read_text()
    write_kaldi_map(dump / "utt2num_samples", {"m0": 800, "m1": "x", "m2": 2400})
    with pytest.raises(DataFileError, match=r"utt2num_samples: 'm1' has sample count 'x'"):
        write_ssl_list(dump, out)
    assert (out / "speech_shape").read_text() == before
    write_kaldi_map(dump / "utt2num_samples", {"m0": 800, "m1": 1600})
    with pytest.raises(DataFileError, match="no sample count for 'm2'"):
        build_ssl_list(dump)


def test_entries_pass_through_whole(dump, tmp_path):
    """A path with spaces and a pipe stay one entry each, as ESPnet's sound reader reads
    them; speech_ref.scp columns split by the data-dir reader's rule."""
    spaced = tmp_path / "my audio" / "s a.wav"
    spaced.parent.mkdir()
    spaced.write_bytes(b"")
    write_kaldi_map(dump / "wav.scp", {
        "m0": str(spaced), "m1": "sox /mix/m1.flac -t wav - |", "m2": "/mix/m2.wav",
    })
    write_kaldi_map(dump / "speech_ref.scp", {"m0": str(spaced), "m1": "/s/c.wav /s/d.wav"})
    scp = build_ssl_list(dump)["wav.scp"]
    assert scp["m0"] == str(spaced) and scp["m0-src1"] == str(spaced)
    assert scp["m1"] == "sox /mix/m1.flac -t wav - |"
    assert (scp["m1-src1"], scp["m1-src2"]) == ("/s/c.wav", "/s/d.wav")


def test_segments_dir_is_refused(dump):
    (dump / "segments").write_text("m0_a m0 0.0 0.05\n")
    with pytest.raises(DataFileError, match=r"segments: a Kaldi segments file .* format_data"):
        build_ssl_list(dump)

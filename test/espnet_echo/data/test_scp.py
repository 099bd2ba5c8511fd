# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of espnet_echo.data.scp: scp audio entries read the way ESPnet reads them."""

import gzip

import numpy as np
import pytest
import soundfile

from espnet_echo.data.scp import entry_kind, entry_stamp, is_plain_path, read_entry
from espnet_echo.utils.audio import AudioError
from espnet_echo.utils.fileio import DataFileError

X = (np.arange(1600) % 200 - 100).astype(np.int16)


@pytest.fixture
def wav(tmp_path):
    path = tmp_path / "dir with space" / "a b.wav"
    path.parent.mkdir()
    soundfile.write(path, X, 16000, subtype="PCM_16")
    return path


def _same(wav, rate, fs=16000, x=X):
    assert rate == fs and wav.dtype == np.float32
    np.testing.assert_array_equal(np.round(wav * 32768).astype(np.int16), x)


def test_path_with_spaces(wav):
    assert entry_kind(str(wav), "s:1") == "path" and not is_plain_path(str(wav))
    _same(*read_entry(f"{wav}  ", "s:1"))


def test_pipe(wav, monkeypatch):
    monkeypatch.chdir(wav.parent)  # Kaldi: relative paths and commands run in the cwd
    assert entry_kind("cat 'a b.wav' |", "s:1") == "pipe"
    _same(*read_entry("cat 'a b.wav' |", "s:1"))
    assert entry_stamp("cat 'a b.wav' |") is None  # input unknown: never cached
    with pytest.raises(AudioError, match=r"s:2: the command 'false' failed or wrote no audio"):
        read_entry("false |", "s:2")


def test_ark_offsets_and_gzip(tmp_path):
    from omniio import kaldi as kaldi_io  # ESPnet's Kaldi I/O, as ESPnet writes arks

    kaldi_io.save_ark(
        str(tmp_path / "a.ark"), {"u1": (16000, X), "u2": (8000, X[:800])},
        scp=str(tmp_path / "a.scp"),
    )
    entries = dict(line.split(maxsplit=1) for line in open(tmp_path / "a.scp"))
    assert entry_kind(entries["u2"].strip(), "s:2") == "ark"
    _same(*read_entry(entries["u1"], "a.scp:1"))
    _same(*read_entry(entries["u2"], "a.scp:2"), fs=8000, x=X[:800])
    assert entry_stamp(entries["u1"]).startswith(entries["u1"].strip())
    kaldi_io.save_ark(str(tmp_path / "f.ark"), {"f": np.zeros((3, 4), np.float32)},
                      scp=str(tmp_path / "f.scp"))
    feats = open(tmp_path / "f.scp").read().split()[1]
    with pytest.raises(AudioError, match=r"f.scp:1: .* holds a Kaldi matrix of shape"):
        read_entry(feats, "f.scp:1")
    soundfile.write(tmp_path / "g.wav", X, 16000, subtype="PCM_16")
    (tmp_path / "g.wav.gz").write_bytes(gzip.compress((tmp_path / "g.wav").read_bytes()))
    assert entry_kind(str(tmp_path / "g.wav.gz"), "s:1") == "gzip"
    _same(*read_entry(str(tmp_path / "g.wav.gz"), "s:1"))


@pytest.mark.parametrize(
    "value, match",
    [
        ("ark:/x/feats.ark", "is a Kaldi rspecifier"),
        ("scp,p:/x/wav.scp", "is a Kaldi rspecifier"),
        ("-", "standard input"),
        ("| gzip -c > x.gz", "output pipe"),
        ("   ", "empty audio entry"),
    ],
)
def test_refused_forms_name_the_line(value, match):
    with pytest.raises(DataFileError, match=rf"^wav.scp:7: .*{match}"):
        entry_kind(value, "wav.scp:7")


def test_bad_audio_names_scp_line_and_file(tmp_path):
    stereo = tmp_path / "s.wav"
    soundfile.write(stereo, np.zeros((10, 2), np.int16), 16000)
    with pytest.raises(AudioError, match=r"^wav.scp:3: .*s.wav: expected mono audio"):
        read_entry(str(stereo), "wav.scp:3")
    with pytest.raises(AudioError, match=r"wav.scp:4: .*/x y.wav: audio file not found "
                                         r"\(the whole rest of the line is one path"):
        read_entry(str(tmp_path / "x y.wav"), "wav.scp:4")
    with pytest.raises(AudioError, match=r"wav.scp:5: .*expected mono audio, got 2"):
        read_entry(f"cat {stereo} |", "wav.scp:5")

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Command line of the stage-5 pretraining list (the list: data/test_ssl_list.py)."""

from pathlib import Path

import pytest

from espnet_echo.bin.make_ssl_list import main
from espnet_echo.data.ssl_list import STAMP


def _write(path: Path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    d = tmp_path / "dump"
    d.mkdir()
    _write(d / "wav.scp", ["u1 /a/u1.wav", "u2 /a/u2.wav"])
    _write(d / "utt2num_samples", ["u1 16000", "u2 32000"])
    _write(d / "speech_ref.scp", ["u1 /a/u1-s1.wav", "u2 /a/u2-s1.wav /a/u2-s2.wav"])
    return d


def _read(path: Path):
    return dict(line.split(maxsplit=1) for line in path.read_text().splitlines())


def test_lists_mixtures_and_sources_with_mixture_lengths(dump: Path, tmp_path: Path):
    out = tmp_path / "ssl"
    main(["--data_dir", str(dump), "--out_dir", str(out)])
    assert _read(out / "wav.scp") == {
        "u1": "/a/u1.wav", "u1-src1": "/a/u1-s1.wav",
        "u2": "/a/u2.wav", "u2-src1": "/a/u2-s1.wav", "u2-src2": "/a/u2-s2.wav",
    }
    assert _read(out / "speech_shape") == {
        "u1": "16000", "u1-src1": "16000",
        "u2": "32000", "u2-src1": "32000", "u2-src2": "32000",
    }
    assert (out / STAMP).is_file()


def test_without_sources(dump: Path, tmp_path: Path):
    out = tmp_path / "ssl"
    main(["--data_dir", str(dump), "--out_dir", str(out), "--with_sources", "False"])
    assert sorted(_read(out / "wav.scp")) == ["u1", "u2"]
    with pytest.raises(SystemExit) as e:
        main(["--data_dir", str(dump), "--out_dir", str(out), "--with_sources", "maybe"])
    assert e.value.code == 2


def test_skips_when_current_and_rebuilds_on_change(dump: Path, tmp_path: Path, caplog):
    out = tmp_path / "ssl"
    main(["--data_dir", str(dump), "--out_dir", str(out)])
    mtime = (out / "wav.scp").stat().st_mtime_ns
    main(["--data_dir", str(dump), "--out_dir", str(out)])
    assert (out / "wav.scp").stat().st_mtime_ns == mtime
    _write(dump / "wav.scp", ["u1 /a/u1.wav"])
    _write(dump / "speech_ref.scp", ["u1 /a/u1-s1.wav"])
    main(["--data_dir", str(dump), "--out_dir", str(out)])
    assert sorted(_read(out / "wav.scp")) == ["u1", "u1-src1"]


@pytest.mark.parametrize(
    "name, lines, message",
    [
        ("utt2num_samples", ["u1 16000"], "no sample count for 'u2'"),
        ("utt2num_samples", ["u1 16000", "u2 0"], "'u2' has sample count '0'"),
        ("speech_ref.scp", ["u3 /a/x.wav"], "'u3' is not in"),
        ("wav.scp", ["u1", "u2 /a/u2.wav"], "wav.scp:1: expected '<key> <value>'"),
    ],
)
def test_malformed_dump_fails_and_keeps_previous_output(
    dump: Path, tmp_path: Path, capsys, name, lines, message
):
    out = tmp_path / "ssl"
    main(["--data_dir", str(dump), "--out_dir", str(out)])
    before = (out / "wav.scp").read_text()
    _write(dump / name, lines)
    with pytest.raises(SystemExit) as e:
        main(["--data_dir", str(dump), "--out_dir", str(out)])
    assert str(e.value).startswith("ERROR: ")
    assert message in str(e.value) and name in str(e.value)
    assert (out / "wav.scp").read_text() == before

import pytest

from espnet_echo.utils.fileio import (
    DataFileError,
    atomic_open,
    atomic_path,
    read_kaldi_map,
    write_kaldi_map,
)


def test_round_trip_sorted(tmp_path):
    write_kaldi_map(tmp_path / "m", {"b": "2 x", "a": 1, "c": ""})
    assert (tmp_path / "m").read_text() == "a 1\nb 2 x\nc\n"
    assert read_kaldi_map(tmp_path / "m", allow_empty_value=True) == {
        "a": "1", "b": "2 x", "c": ""}


@pytest.mark.parametrize(
    "text,kwargs,match",
    [
        ("a 1\n\nb 2\n", {}, r"m:2: empty line"),
        ("a 1\na 2\n", {}, r"m:2: duplicate key 'a'"),
        ("a 1 2\n", {"num_fields": 1}, r"m:1: expected 2 columns, got 3"),
        ("a\n", {}, r"m:1: expected '<key> <value>'"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, text, kwargs, match):
    (tmp_path / "m").write_text(text)
    with pytest.raises(DataFileError, match=match):
        read_kaldi_map(tmp_path / "m", **kwargs)


def test_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="file not found"):
        read_kaldi_map(tmp_path / "nope")


def test_failed_write_keeps_the_old_file(tmp_path):
    (tmp_path / "f").write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(tmp_path / "f") as f:
            f.write("new\n")
            raise RuntimeError("boom")
    assert (tmp_path / "f").read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_atomic_path_keeps_suffix_and_renames(tmp_path):
    with atomic_path(tmp_path / "x.wav") as tmp:
        assert tmp.suffix == ".wav" and tmp != tmp_path / "x.wav"
        tmp.write_bytes(b"data")
    assert (tmp_path / "x.wav").read_bytes() == b"data"


def test_unwritable_dir_gives_clear_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError, match="cannot write output"):
        with atomic_open(tmp_path / "file" / "sub" / "x"):
            pass


def test_outputs_get_normal_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        write_kaldi_map(tmp_path / "m", {"a": 1})
        with atomic_path(tmp_path / "w.bin") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(umask)
    assert (tmp_path / "m").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "w.bin").stat().st_mode & 0o777 == 0o644

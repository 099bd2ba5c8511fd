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


def test_staged_dir_replaces_only_its_own_output(tmp_path, monkeypatch):
    """An earlier output (it holds the owner's stamp) is swapped whole; a foreign non-empty
    dir, a file, '.' and a parent of other outputs are refused and left as they were."""
    from espnet_echo.utils.fileio import staged_dir

    out = tmp_path / "dump" / "train"
    with staged_dir(out, ".stamp.json") as tmp:
        (tmp / "a").write_text("1")
        (tmp / ".stamp.json").write_text("{}")
    with staged_dir(out, ".stamp.json") as tmp:  # its own earlier output: replaced
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == ["b"]

    (tmp_path / "dump" / "dev").mkdir()
    (tmp_path / "dump" / "dev" / "keep").write_text("x")
    for dst in (tmp_path / "dump", tmp_path / "dump" / "dev"):  # parent, foreign dir
        with pytest.raises(FileExistsError, match=r"not an earlier output .*\.stamp\.json"):
            with staged_dir(dst, ".stamp.json") as tmp:
                (tmp / "c").write_text("3")
    assert (tmp_path / "dump" / "dev" / "keep").read_text() == "x"
    assert sorted(p.name for p in out.iterdir()) == ["b"]
    monkeypatch.chdir(tmp_path / "dump" / "dev")
    with pytest.raises(FileExistsError, match="not an earlier output"):
        with staged_dir(".", ".stamp.json"):
            pass
    assert sorted(p.name for p in (tmp_path / "dump" / "dev").iterdir()) == ["keep"]
    (tmp_path / "f").write_text("")
    with pytest.raises(FileExistsError, match="is not a directory"):
        with staged_dir(tmp_path / "f", ".stamp.json"):
            pass
    empty = tmp_path / "empty"
    empty.mkdir()
    with staged_dir(empty, ".stamp.json") as tmp:  # an empty dir is fine to fill
        (tmp / "d").write_text("4")
    assert (empty / "d").read_text() == "4"


def test_staged_dir_removes_what_a_killed_run_left(tmp_path):
    from espnet_echo.utils.fileio import staged_dir

    dst = tmp_path / "decode"
    left = tmp_path / ".decode.tmp-abc123"  # a run killed by SIGTERM leaves this
    left.mkdir()
    (left / "rttm").write_text("partial\n")
    other = tmp_path / ".decode_vbx.tmp-xyz"  # another output's: not touched
    other.mkdir()
    with staged_dir(dst, ".stamp.json") as tmp:
        (tmp / ".stamp.json").write_text("{}")
    assert (dst / ".stamp.json").is_file()
    assert not left.exists() and other.exists()

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Command line of make_spk_ids (the library: data/test_spk_ids.py)."""

from pathlib import Path

import pytest

from espnet_echo.bin.make_spk_ids import get_parser, main


def _write(path: Path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _dir(root: Path, utt2spks) -> Path:
    """A data dir of text files only (the reader does not open the audio)."""
    root.mkdir(parents=True)
    _write(root / "wav.scp", [f"{u} /nowhere/{u}.wav" for u in utt2spks])
    _write(root / "utt2spks", [f"{u} {' '.join(s)}" for u, s in utt2spks.items()])
    return root


def test_cli_writes_list_and_ids(tmp_path):
    train = _dir(tmp_path / "train", {"a": ["s2", "s1"], "b": ["s3"]})
    dev = _dir(tmp_path / "dev", {"c": ["s1", "x9"]})
    spk_list = tmp_path / "spk_list.txt"
    main(["--train_dir", str(train), "--spk_list", str(spk_list),
          "--data_dir", str(train), "--data_dir", str(dev)])
    assert spk_list.read_text() == "s1\ns2\ns3\n"
    assert (train / "spk_ids").read_text() == "a 1 0\nb 2\n"
    assert (dev / "spk_ids").read_text() == "c 0 -1\n"
    assert get_parser().parse_args(
        ["--train_dir", "t", "--spk_list", "l", "--data_dir", "d"]
    ).data_dir == ["d"]


def test_cli_errors_are_one_line_naming_the_file(tmp_path, capsys):
    train = _dir(tmp_path / "train", {"a": ["s1", "s1"]})
    with pytest.raises(SystemExit) as e:
        main(["--train_dir", str(train), "--spk_list", str(tmp_path / "l.txt"),
              "--data_dir", str(train)])
    assert str(e.value).startswith("make_spk_ids: error: ")
    assert "utt2spks:1: a speaker id is repeated" in str(e.value)
    with pytest.raises(SystemExit) as e:
        main(["--train_dir", str(tmp_path / "missing"), "--spk_list", "l.txt",
              "--data_dir", str(tmp_path / "missing")])
    assert "missing: data dir not found" in str(e.value)
    with pytest.raises(SystemExit):
        main(["--train_dir", str(train)])  # --spk_list and --data_dir are required

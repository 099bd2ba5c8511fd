# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of espnet_echo.utils.token_list (recipe stage 3 and token list reading)."""

import logging
from pathlib import Path

import pytest

from espnet_echo.utils.token_list import TokenListError, make_token_list, read_token_list
from espnet_echo.utils.fileio import DataFileError

WORDS = (
    "THE QUICK BROWN FOX JUMPS OVER A LAZY DOG WHILE SEVEN WIZARDS BOX QUIETLY AND "
    "JACK VOWS TO PACK MY BAG WITH FIVE DOZEN LIQUOR JUGS HOW VEXINGLY QUICK DAFT ZEBRAS JUMP"
).split()


def _write(path: Path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def make_texts(root: Path):
    """Two text_spk files; speaker 2 is absent (empty transcript) in some mixtures."""
    t1, t2 = root / "text_spk1", root / "text_spk2"
    lines1, lines2 = [], []
    for i in range(60):
        words = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(4 + i % 5)]
        lines1.append(f"train_mix{i:06d} {' '.join(words)}")
        # speaker 2 absent from every third mixture: key only
        text2 = "" if i % 3 == 0 else " " + " ".join(words[::-1])
        lines2.append(f"train_mix{i:06d}{text2}")
    _write(t1, lines1)
    _write(t2, lines2)
    return [t1, t2]


def _tokens(out: Path):
    return (out / "tokens.txt").read_text(encoding="utf-8").splitlines()


def test_char(tmp_path):
    inputs = make_texts(tmp_path)
    out = tmp_path / "token_list" / "char"
    assert make_token_list(inputs, out, token_type="char") is True
    tokens = _tokens(out)
    assert tokens[:2] == ["<blank>", "<unk>"] and tokens[-1] == "<sos/eos>"
    assert set(tokens[2:-1]) == set("".join(WORDS)) | {"<space>"}
    assert sorted(p.name for p in out.iterdir()) == [".make_token_list.json", "tokens.txt"]


def test_bpe_unigram_and_idempotence(tmp_path, caplog):
    import sentencepiece as spm

    inputs = make_texts(tmp_path)
    out = tmp_path / "token_list" / "bpe_unigram40"
    assert make_token_list(inputs, out, token_type="bpe", nbpe=40, bpemode="unigram") is True
    tokens = _tokens(out)
    assert len(tokens) == 40 and len(set(tokens)) == 40
    assert tokens[:2] == ["<blank>", "<unk>"] and tokens[-1] == "<sos/eos>"
    assert "<s>" not in tokens and "</s>" not in tokens
    sp = spm.SentencePieceProcessor(model_file=str(out / "bpe.model"))
    assert set(sp.encode("THE LAZY DOG", out_type=str)) <= set(tokens)
    names = sorted(p.name for p in out.iterdir())
    assert names == [".make_token_list.json", "bpe.model", "tokens.txt"]

    with caplog.at_level(logging.INFO):
        assert make_token_list(inputs, out, token_type="bpe", nbpe=40) is False
    assert "nothing to do" in caplog.text
    assert make_token_list(inputs, out, token_type="bpe", nbpe=40, bpemode="bpe") is True
    _write(inputs[1], ["x HELLO"])
    assert make_token_list(inputs, out, token_type="bpe", nbpe=40, bpemode="bpe") is True


def test_nbpe_too_large_keeps_previous_output(tmp_path):
    inputs = make_texts(tmp_path)
    out = tmp_path / "tl"
    make_token_list(inputs, out, token_type="char")
    before = _tokens(out)
    tiny = tmp_path / "tiny"
    _write(tiny, ["u1 HELLO WORLD", "u2", "u3 A CAT"])
    too_large = r"--nbpe 100 is too large .*use a smaller --nbpe \(<= \d+\)"
    with pytest.raises(TokenListError, match=too_large):
        make_token_list([tiny], out, token_type="bpe", nbpe=100)
    too_small = r"--nbpe 3 is too small .*use --nbpe \d+ or larger"
    with pytest.raises(TokenListError, match=too_small):
        make_token_list([tiny], out, token_type="bpe", nbpe=3, bpemode="bpe")
    assert _tokens(out) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_bad_inputs(tmp_path):
    empty = tmp_path / "text_spk3"
    _write(empty, ["u1", "u2"])
    with pytest.raises(TokenListError, match="no non-empty transcript"):
        make_token_list([empty], tmp_path / "out", token_type="char")
    with pytest.raises(DataFileError, match=r"nope: file not found"):
        make_token_list([tmp_path / "nope"], tmp_path / "out", token_type="char")
    _write(empty, ["u1 A", "u1 B"])
    with pytest.raises(DataFileError, match=r"text_spk3:2: duplicate key 'u1'"):
        make_token_list([empty], tmp_path / "out", token_type="char")
    assert not (tmp_path / "out").exists()


def test_read_token_list(tmp_path):
    inputs = make_texts(tmp_path)
    out = tmp_path / "char"
    make_token_list(inputs, out, token_type="char")
    assert read_token_list(out / "tokens.txt") == _tokens(out)
    with pytest.raises(DataFileError, match="nope.txt: token list not found"):
        read_token_list(tmp_path / "nope.txt")
    bad = tmp_path / "bad.txt"
    _write(bad, ["<unk>", "<blank>"])
    with pytest.raises(DataFileError, match="bad.txt: the first token must be <blank>"):
        read_token_list(bad)

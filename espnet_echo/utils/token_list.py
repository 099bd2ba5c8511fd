# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Token lists of the ASR head (recipe stage 3) and their reading.

:func:`make_token_list` writes ``tokens.txt`` in ESPnet's ``asr.sh`` layout:
``<blank>``, ``<unk>``, the tokens, ``<sos/eos>``. For ``bpe`` a sentencepiece model is
trained with ``sentencepiece.SentencePieceTrainer.train`` (as ``asr.sh``'s ``spm_train``)
and saved as ``bpe.model``; ``char`` uses ``espnet2.bin.tokenize_text`` (tokens by
descending count). Inputs are Kaldi text files (``<utt> <transcript>``); empty
transcripts (absent speakers) are skipped. The output dir is written atomically; a
re-run with the same inputs and options is a no-op (stamp ``.make_token_list.json``).
"""

import contextlib
import io
import logging
import os
import re
from pathlib import Path
from typing import List, Sequence, Union

from espnet_echo.utils.fileio import (
    DataFileError,
    atomic_open,
    file_digest,
    read_kaldi_map,
    stamp_is_current,
    staged_dir,
    write_stamp,
)

PathLike = Union[str, Path]

BLANK, OOV, SOS_EOS = "<blank>", "<unk>", "<sos/eos>"
STAMP_NAME = ".make_token_list.json"
STAMP_VERSION = 1


class TokenListError(ValueError):
    """The token list cannot be built; the message says why and what to change."""


def read_transcripts(inputs: Sequence[PathLike]) -> List[str]:
    """Non-empty transcripts of Kaldi text files, whitespace normalised.

    Args:
        inputs: Kaldi text files (``<utt> <transcript>``, the transcript may be empty).

    Returns:
        The non-empty transcripts, in file and line order.

    Raises:
        DataFileError: missing or malformed input (names ``file:line``).
        TokenListError: no non-empty transcript at all.
    """
    texts = []
    for path in inputs:
        for value in read_kaldi_map(path, allow_empty_value=True).values():
            text = " ".join(value.split())
            if text:
                texts.append(text)
    if not texts:
        raise TokenListError(
            f"no non-empty transcript in {', '.join(map(str, inputs))}; nothing to build "
            "a token list from"
        )
    return texts


def train_bpe(
    texts: Sequence[str],
    out_dir: Path,
    nbpe: int,
    bpemode: str,
    character_coverage: float = 1.0,
    input_sentence_size: int = 100000000,
) -> List[str]:
    """Train ``out_dir/bpe.model``; return its pieces without ``<unk>``, ``<s>``, ``</s>``.

    Args:
        texts: Training transcripts.
        out_dir: Where ``bpe.model`` goes (``bpe.vocab`` is not kept).
        nbpe: sentencepiece ``vocab_size``.
        bpemode: sentencepiece ``model_type`` (``unigram`` or ``bpe``).
        character_coverage: sentencepiece ``character_coverage``.
        input_sentence_size: sentencepiece ``input_sentence_size``.

    Returns:
        The pieces in id order.

    Raises:
        TokenListError: ``nbpe`` does not fit the corpus (the message gives the bound).
    """
    import sentencepiece as spm

    train_txt = out_dir / "train.txt"
    with open(train_txt, "w", encoding="utf-8") as f:
        f.writelines(t + "\n" for t in texts)
    try:
        spm.SentencePieceTrainer.train(
            input=str(train_txt),
            vocab_size=nbpe,
            model_type=bpemode,
            model_prefix=str(out_dir / "bpe"),
            character_coverage=character_coverage,
            input_sentence_size=input_sentence_size,
            minloglevel=1,
        )
    except RuntimeError as e:
        msg = str(e)
        chars = len(set("".join(texts).replace(" ", "")))
        corpus = f"{len(texts)} transcripts, {chars} distinct characters"
        too_high = re.search(r"Vocabulary size too high \(\d+\)\. .*<= (\d+)", msg)
        too_low = re.search(r"smaller than required_chars\. \d+ vs (\d+)", msg)
        if too_high:
            raise TokenListError(
                f"--nbpe {nbpe} is too large for this corpus ({corpus}): sentencepiece "
                f"({bpemode}) can make at most {too_high.group(1)} pieces from it; use a "
                f"smaller --nbpe (<= {too_high.group(1)}) or more text"
            ) from None
        if too_low:
            raise TokenListError(
                f"--nbpe {nbpe} is too small for this corpus ({corpus}): every character "
                f"needs a piece; use --nbpe {too_low.group(1)} or larger"
            ) from None
        raise TokenListError(f"sentencepiece training failed: {msg}") from e
    finally:
        train_txt.unlink(missing_ok=True)
    (out_dir / "bpe.vocab").unlink(missing_ok=True)
    sp = spm.SentencePieceProcessor(model_file=str(out_dir / "bpe.model"))
    return [
        sp.id_to_piece(i)
        for i in range(sp.get_piece_size())
        if not (sp.is_unknown(i) or sp.is_control(i))
    ]


def char_tokens(texts: Sequence[str], work_dir: Path) -> List[str]:
    """``espnet2.bin.tokenize_text`` char vocabulary with ESPnet's extra symbols.

    Args:
        texts: Transcripts.
        work_dir: Dir for the temporary text file.

    Returns:
        ``<blank>``, ``<unk>``, the characters by descending count (space as
        ``<space>``), ``<sos/eos>``.
    """
    from espnet2.bin.tokenize_text import tokenize

    text_file = work_dir / "train.txt"
    with open(text_file, "w", encoding="utf-8") as f:
        f.writelines(t + "\n" for t in texts)
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            tokenize(
                input=str(text_file),
                output="-",
                field=None,
                delimiter=None,
                token_type="char",
                space_symbol="<space>",
                non_linguistic_symbols=None,
                bpemodel=None,
                log_level=logging.getLevelName(logging.getLogger().getEffectiveLevel()),
                write_vocabulary=True,
                vocabulary_size=0,
                remove_non_linguistic_symbols=False,
                cutoff=0,
                add_symbol=[f"{BLANK}:0", f"{OOV}:1", f"{SOS_EOS}:-1"],
                cleaner=None,
                g2p=None,
                add_nonsplit_symbol=[],
            )
    finally:
        text_file.unlink(missing_ok=True)
    return buf.getvalue().splitlines()


def make_token_list(
    inputs: Sequence[PathLike],
    output_dir: PathLike,
    token_type: str = "bpe",
    nbpe: int = 100,
    bpemode: str = "unigram",
    character_coverage: float = 1.0,
    input_sentence_size: int = 100000000,
) -> bool:
    """Write ``tokens.txt`` (and ``bpe.model`` for ``bpe``) into ``output_dir``.

    Args:
        inputs: Kaldi text files (``text_spk1``, ...).
        output_dir: Replaced as a whole on success.
        token_type: ``bpe`` or ``char``.
        nbpe: sentencepiece vocabulary size (``bpe`` only).
        bpemode: sentencepiece model type: ``unigram`` or ``bpe``.
        character_coverage: sentencepiece ``character_coverage``.
        input_sentence_size: sentencepiece ``input_sentence_size``.

    Returns:
        True if written, False if ``output_dir`` was already up to date.

    Raises:
        DataFileError: bad input file. TokenListError: no text, or nbpe does not fit.
        ValueError: bad options.
    """
    if token_type not in ("bpe", "char"):
        raise ValueError(f"--token_type must be bpe or char, got {token_type!r}")
    if token_type == "bpe" and bpemode not in ("unigram", "bpe"):
        raise ValueError(f"--bpemode must be unigram or bpe, got {bpemode!r}")
    if token_type == "bpe" and nbpe < 1:
        raise ValueError(f"--nbpe must be positive, got {nbpe}")
    if not inputs:
        raise ValueError("give at least one --input")
    output_dir = Path(output_dir)
    for path in inputs:
        if not Path(path).is_file():
            raise DataFileError(f"{path}: file not found")

    options = dict(token_type=token_type, inputs=[os.path.abspath(p) for p in inputs])
    if token_type == "bpe":
        import sentencepiece

        options.update(
            nbpe=nbpe,
            bpemode=bpemode,
            character_coverage=character_coverage,
            input_sentence_size=input_sentence_size,
            sentencepiece=sentencepiece.__version__,
        )
    stamp = dict(
        version=STAMP_VERSION,
        options=options,
        input_digests=[file_digest(p) for p in inputs],
    )
    if stamp_is_current(output_dir, stamp, STAMP_NAME):
        logging.info(f"{output_dir} is up to date (same inputs and options); nothing to do")
        return False

    texts = read_transcripts(inputs)
    with staged_dir(output_dir, STAMP_NAME) as tmp:
        if token_type == "bpe":
            pieces = train_bpe(
                texts, tmp, nbpe, bpemode, character_coverage, input_sentence_size
            )
            tokens = [BLANK, OOV, *pieces, SOS_EOS]
        else:
            tokens = char_tokens(texts, tmp)
        if len(set(tokens)) != len(tokens):
            raise TokenListError(f"duplicate tokens in the token list: {tokens}")
        with atomic_open(tmp / "tokens.txt") as f:
            f.writelines(t + "\n" for t in tokens)
        write_stamp(tmp, stamp, STAMP_NAME)
    logging.info(
        f"{output_dir}/tokens.txt: {len(tokens)} tokens ({token_type}) from "
        f"{len(texts)} transcripts"
    )
    return True


def read_token_list(path: PathLike) -> List[str]:
    """Read a token list (one token a line, ``<blank>`` first).

    Args:
        path: ``tokens.txt``.

    Returns:
        The tokens in id order.

    Raises:
        DataFileError: missing file, or a first token other than ``<blank>``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: token list not found")
    with open(path, encoding="utf-8") as f:
        tokens = [line.rstrip("\n") for line in f]
    if not tokens or tokens[0] != BLANK:
        raise DataFileError(f"{path}: the first token must be {BLANK}")
    return tokens

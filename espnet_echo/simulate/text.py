# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Transcripts for the simulated corpus: KJV sentences, normalised like LibriSpeech."""

import re
import subprocess
import unicodedata
from typing import List, Tuple

from espnet_echo.simulate.errors import SimulateError, require_binary

# Whole KJV, Genesis 1:1 to Revelation 22:21 (31,102 verses).
DEFAULT_BIBLE_RANGE = "Gen1:1-Rev22:21"

_ONES = (
    "ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE TEN ELEVEN TWELVE THIRTEEN "
    "FOURTEEN FIFTEEN SIXTEEN SEVENTEEN EIGHTEEN NINETEEN"
).split()
_TENS = "_ _ TWENTY THIRTY FORTY FIFTY SIXTY SEVENTY EIGHTY NINETY".split()
_SCALES = ((10**12, "TRILLION"), (10**9, "BILLION"), (10**6, "MILLION"), (1000, "THOUSAND"))
_ORDINAL_EXCEPTIONS = {
    "ONE": "FIRST",
    "TWO": "SECOND",
    "THREE": "THIRD",
    "FIVE": "FIFTH",
    "EIGHT": "EIGHTH",
    "NINE": "NINTH",
    "TWELVE": "TWELFTH",
}
_NUMBER_RE = re.compile(r"\d[\d,]*(?:\.\d+)?(?:st|nd|rd|th)?", re.IGNORECASE)
_VERSE_RE = re.compile(r"^([1-3]?[A-Za-z]+)(\d+):(\d+)\s+(.*)$")
_CLAUSE_SPLIT_RE = re.compile(r"[.?!;:]+")


def spell_number(n: int) -> str:
    """Spell a non-negative integer in upper-case English words (LibriSpeech style).

    Args:
        n: Integer in ``[0, 10**15)``.

    Returns:
        e.g. ``spell_number(1984) == "ONE THOUSAND NINE HUNDRED EIGHTY FOUR"``.

    Raises:
        ValueError: ``n`` is negative or too large.
    """
    if n < 0 or n >= 10**15:
        raise ValueError(f"cannot spell {n}: only 0 <= n < 10**15 is supported")
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " HUNDRED" + ("" if rest == 0 else " " + spell_number(rest))
    for value, name in _SCALES:
        if n >= value:
            head, rest = divmod(n, value)
            tail = "" if rest == 0 else " " + spell_number(rest)
            return f"{spell_number(head)} {name}{tail}"
    raise AssertionError("unreachable")


def _ordinal(words: str) -> str:
    head, _, last = words.rpartition(" ")
    if last in _ORDINAL_EXCEPTIONS:
        last = _ORDINAL_EXCEPTIONS[last]
    elif last.endswith("Y"):
        last = last[:-1] + "IETH"
    else:
        last = last + "TH"
    return f"{head} {last}".strip()


def _spell_match(match: "re.Match[str]") -> str:
    token = match.group(0)
    suffix = ""
    if token[-2:].isalpha():
        token, suffix = token[:-2], token[-2:]
    integer, _, fraction = token.replace(",", "").partition(".")
    if not integer or len(integer) > 15:
        return " "
    words = spell_number(int(integer))
    if suffix and not fraction:
        words = _ordinal(words)
    if fraction:
        words += " POINT " + " ".join(_ONES[int(d)] for d in fraction)
    return f" {words} "


def normalize_transcript(text: str, numbers: str = "spell") -> str:
    """Normalise text like LibriSpeech transcripts.

    Upper case; only letters A-Z, apostrophes and single spaces remain. Accents are
    stripped, hyphens and dashes become spaces, apostrophes survive only inside a word
    (``DON'T``) or after a final S (``BRETHREN'S``, ``FATHERS'``).

    Args:
        text: Raw text.
        numbers: ``"spell"`` writes digits as words (``"3rd"`` -> ``"THIRD"``,
            ``"1,000"`` -> ``"ONE THOUSAND"``); ``"drop"`` removes them.

    Returns:
        The normalised transcript (may be empty).

    Raises:
        ValueError: ``numbers`` is neither ``"spell"`` nor ``"drop"``.
    """
    if numbers not in ("spell", "drop"):
        raise ValueError(f"numbers must be 'spell' or 'drop', got {numbers!r}")
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
        text = text.replace("\u2019", "'").replace("\u2018", "'")
    text = text.replace("`", "'")
    if numbers == "spell":
        text = _NUMBER_RE.sub(_spell_match, text)
    else:
        text = _NUMBER_RE.sub(" ", text)
    text = text.upper()
    text = re.sub(r"[^A-Z']+", " ", text)
    # Keep apostrophes between letters, or a plural possessive after S; drop the others.
    text = re.sub(r"(?<![A-Z])'+|'+(?![A-Z])(?<!S')", " ", text)
    text = re.sub(r"'{2,}", "'", text)
    return " ".join(text.split())


def _run_bible(bible_range: str) -> Tuple[str, str]:
    exe = require_binary("bible")
    try:
        proc = subprocess.run(
            [exe, "-f", "-l100000", bible_range],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise SimulateError(f"'bible {bible_range}' failed: {e}") from e
    if proc.returncode != 0:
        raise SimulateError(
            f"'bible {bible_range}' exited with {proc.returncode}: {proc.stderr.strip()}"
        )
    return proc.stdout, proc.stderr


def read_bible_verses(bible_range: str = DEFAULT_BIBLE_RANGE) -> List[Tuple[str, str]]:
    """Read KJV verses with the ``bible`` program (Debian package ``bible-kjv``).

    Args:
        bible_range: Verse spec understood by ``bible``, possibly spanning books, e.g.
            ``"Gen1:1-Rev22:21"`` (whole Bible) or ``"Mat1:1-Joh21:25"`` (Gospels).

    Returns:
        ``[(reference, verse text), ...]`` in Bible order, e.g. ``("Ge1:1", "In the ...")``.

    Raises:
        MissingBinaryError: ``bible`` is not installed.
        SimulateError: ``bible`` fails or the range yields no verse.
    """
    out, err = _run_bible(bible_range)
    verses = []
    for line in out.splitlines():
        m = _VERSE_RE.match(line.strip())
        if m:
            verses.append((f"{m.group(1)}{m.group(2)}:{m.group(3)}", m.group(4)))
    if not verses:
        raise SimulateError(
            f"'bible {bible_range}' returned no verse (bad verse range?): "
            f"{(err.strip() or out.strip())[:200]!r}"
        )
    return verses


def split_clauses(verse: str) -> List[str]:
    """Split a verse at sentence and clause punctuation (``. ? ! ; :``)."""
    return [c.strip() for c in _CLAUSE_SPLIT_RE.split(verse) if c.strip()]


def load_sentences(
    bible_range: str = DEFAULT_BIBLE_RANGE,
    min_words: int = 4,
    max_words: int = 16,
    numbers: str = "spell",
) -> List[str]:
    """Normalised, de-duplicated KJV sentences with ``min_words..max_words`` words.

    Each verse is split at ``. ? ! ; :``; every piece is normalised with
    :func:`normalize_transcript` and kept if its word count is in range.

    Args:
        bible_range: Verse spec passed to ``bible`` (see :func:`read_bible_verses`).
        min_words: Minimum words per sentence (inclusive).
        max_words: Maximum words per sentence (inclusive).
        numbers: Passed to :func:`normalize_transcript`.

    Returns:
        Sentences in Bible order, first occurrence of each kept. Deterministic.

    Raises:
        MissingBinaryError: ``bible`` is not installed.
        SimulateError: bad range, or no sentence in the word-count range.
        ValueError: ``min_words`` > ``max_words`` or ``min_words`` < 1.
    """
    if min_words < 1 or min_words > max_words:
        raise ValueError(f"need 1 <= min_words <= max_words, got {min_words}..{max_words}")
    seen = set()
    sentences = []
    for _, verse in read_bible_verses(bible_range):
        for clause in split_clauses(verse):
            sent = normalize_transcript(clause, numbers=numbers)
            if min_words <= len(sent.split()) <= max_words and sent not in seen:
                seen.add(sent)
                sentences.append(sent)
    if not sentences:
        raise SimulateError(
            f"no sentence with {min_words}..{max_words} words in bible range {bible_range!r}"
        )
    return sentences

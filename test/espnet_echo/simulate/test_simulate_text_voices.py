# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Text normalisation, KJV sentences, speaker inventory and TTS."""

import re

import numpy as np
import pytest

from espnet_echo.simulate.errors import MissingBinaryError, UnknownVoiceError
from espnet_echo.simulate.text import load_sentences, normalize_transcript, spell_number
from espnet_echo.simulate.voices import (
    Speaker,
    build_inventory,
    check_speaker,
    synthesize,
    trim_silence,
)


@pytest.mark.parametrize(
    "raw, spell, drop",
    [
        ("And Adam called his wife's name Eve;", "AND ADAM CALLED HIS WIFE'S NAME EVE", None),
        ("the fathers' sins, (out of Egypt.)", "THE FATHERS' SINS OUT OF EGYPT", None),
        ("'Tis   the  end  --  twenty-one", "TIS THE END TWENTY ONE", None),
        ("Caf\u00e9 na\u00efve don\u2019t", "CAFE NAIVE DON'T", None),
        (
            "He had 3 sons and 1,000 sheep",
            "HE HAD THREE SONS AND ONE THOUSAND SHEEP",
            "HE HAD SONS AND SHEEP",
        ),
        (
            "on the 21st day of the 12th month",
            "ON THE TWENTY FIRST DAY OF THE TWELFTH MONTH",
            "ON THE DAY OF THE MONTH",
        ),
        ("2.5 cubits", "TWO POINT FIVE CUBITS", "CUBITS"),
        ("  ", "", ""),
    ],
)
def test_normalize_transcript(raw, spell, drop):
    assert normalize_transcript(raw) == spell
    if drop is not None:
        assert normalize_transcript(raw, numbers="drop") == drop
    out = normalize_transcript(raw)
    assert re.fullmatch(r"([A-Z']+( [A-Z']+)*)?", out)


def test_spell_number():
    assert spell_number(0) == "ZERO"
    assert spell_number(115) == "ONE HUNDRED FIFTEEN"
    assert spell_number(1984) == "ONE THOUSAND NINE HUNDRED EIGHTY FOUR"
    assert spell_number(2_000_017) == "TWO MILLION SEVENTEEN"
    with pytest.raises(ValueError):
        spell_number(-1)


def test_load_sentences_word_range():
    sents = load_sentences("Gen1:1-3:24", min_words=5, max_words=9)
    assert len(sents) > 20 and len(set(sents)) == len(sents)
    assert all(5 <= len(s.split()) <= 9 for s in sents)
    assert all(re.fullmatch(r"[A-Z']+( [A-Z']+)*", s) for s in sents)
    assert "AND GOD SAID LET THERE BE LIGHT" in sents


def test_missing_bible_binary(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingBinaryError, match=r"'bible'.*bible-kjv"):
        load_sentences("Gen1:1-1:5")


def test_inventory():
    inv = build_inventory()
    ids = [s.spk_id for s in inv]
    assert len(set(ids)) == len(ids) >= 40
    assert ids == sorted(ids)
    for spk in inv:
        assert re.fullmatch(r"(flite|espeak)-[A-Za-z0-9+_-]+?(-p\d+)?(-r\d+)?", spk.spk_id)
        assert Speaker.from_id(spk.spk_id) == spk
        check_speaker(spk)
    assert Speaker("flite", "slt", 140, 115).spk_id == "flite-slt-p140-r115"
    assert Speaker("espeak", "en-us+f2", 35, 150).spk_id == "espeak-en-us+f2-p35-r150"
    assert Speaker("flite", "kal16").base_voice == Speaker("flite", "kal", 80).base_voice


@pytest.mark.parametrize(
    "spk_id", ["flite-kal", "flite-slt-p200-r85", "espeak-en-gb+f2-p65-r200"]
)
def test_synthesize(spk_id):
    wav = synthesize(Speaker.from_id(spk_id), "IN THE BEGINNING GOD CREATED THE HEAVEN")
    assert wav.dtype == np.float32 and wav.ndim == 1
    assert 0.8 * 16000 < wav.size < 6 * 16000  # 16 kHz (kal is resampled from 8 kHz)
    assert np.abs(wav).max() <= 1.0
    # Trimmed: the first and last 50 ms are not long silence.
    thr = np.abs(wav).max() * 10 ** (-40 / 20)
    assert np.abs(wav[:800]).max() > thr and np.abs(wav[-800:]).max() > thr


def test_synthesize_changes_with_pitch():
    text = "AND THE EVENING AND THE MORNING WERE THE FIRST DAY"
    a = synthesize(Speaker("flite", "slt"), text)
    b = synthesize(Speaker("flite", "slt", pitch=200), text)
    assert a.size != b.size or not np.array_equal(a, b)


def test_trim_silence():
    x = np.zeros(16000, dtype=np.float32)
    x[4000:6000] = 0.5
    y = trim_silence(x, 16000, pad_ms=10)
    assert y.size == 2000 + 2 * 160
    assert trim_silence(np.zeros(10, dtype=np.float32)).size == 0


@pytest.mark.parametrize(
    "speaker, match",
    [
        (Speaker("flite", "nosuchvoice"), "unknown flite voice 'nosuchvoice'"),
        (Speaker("espeak", "en-us+nosuch"), "unknown espeak-ng variant 'nosuch'"),
        (Speaker("espeak", "xx-nolang+m1"), "unknown espeak-ng language/voice 'xx-nolang'"),
        (Speaker("festival", "kal"), "unknown TTS engine 'festival'"),
    ],
)
def test_unknown_voice(speaker, match):
    with pytest.raises(UnknownVoiceError, match=re.escape(match)):
        synthesize(speaker, "HELLO")


def test_bad_speaker_id():
    with pytest.raises(UnknownVoiceError, match="bad speaker id"):
        Speaker.from_id("festival_kal")


@pytest.mark.parametrize(
    "spk_id, binary", [("flite-slt", "flite"), ("espeak-en-us+m1", "espeak-ng")]
)
def test_missing_tts_binary(monkeypatch, tmp_path, spk_id, binary):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingBinaryError, match=f"'{binary}'.*apt-get install {binary}"):
        synthesize(Speaker.from_id(spk_id), "HELLO")

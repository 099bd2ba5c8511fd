# Copyright 2026 espnet-echo developers
#  Apache 2.0
import shutil

import numpy as np
import pytest

from espnet_echo.codec import scoring

needs_codec2 = pytest.mark.skipif(
    shutil.which("c2enc") is None, reason="Debian codec2 missing"
)
needs_opus = pytest.mark.skipif(shutil.which("opusenc") is None, reason="opus-tools missing")


def test_align_recovers_a_known_delay(make_speech):
    ref = make_speech(8000, 0)
    delayed = np.concatenate([np.zeros(37, np.float32), ref])[:8000]
    out = scoring.align(ref, delayed, max_lag=100)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out[:-37], ref[:-37], atol=1e-7)
    early = scoring.align(ref, ref[20:], max_lag=100)  # negative lag
    np.testing.assert_allclose(early[20:], ref[20:], atol=1e-7)


def test_metrics_identity_and_degradation(make_speech):
    ref = make_speech(16000, 1)
    same = scoring.utterance_metrics(ref, ref.copy())
    assert same["stoi"] == pytest.approx(1.0, abs=1e-6)
    assert same["mcd"] == 0.0 and same["pesq"] > 4.4
    noisy = ref + 0.05 * np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    worse = scoring.utterance_metrics(ref, noisy)
    assert worse["stoi"] < 0.99 and worse["mcd"] > 1.0 and worse["pesq"] < same["pesq"]
    # silence: PESQ refuses it, which is a NaN left out of the mean, not a crash
    zeros = np.zeros(16000, np.float32)
    silent = scoring.utterance_metrics(zeros, zeros.copy())
    assert np.isnan(silent["pesq"])


@needs_codec2
def test_codec2_roundtrip_keeps_rate_and_length(make_speech):
    ref = make_speech(16000, 2)
    for mode, nominal in (("1200", 1200), ("3200", 3200), ("700C", 700)):
        out, bps = scoring.codec2_roundtrip(ref, mode)
        assert abs(len(out) - len(ref)) <= 320  # whole 20/40 ms codec frames
        assert bps == pytest.approx(nominal, rel=0.15)
        assert np.abs(out).max() > 0.01


@needs_opus
def test_opus_roundtrip_at_6_kbps(make_speech):
    ref = make_speech(32000, 3)
    out, bps = scoring.opus_roundtrip(ref, 6)
    assert abs(len(out) - len(ref)) <= 960
    assert 5000 < bps < 12000  # 6 kbit/s payload + Ogg pages and headers on 2 s
    m = scoring.utterance_metrics(ref, scoring.align(ref, out, 800))
    assert m["stoi"] > 0.5


def test_format_table_rows():
    rows = [{"system": "x", "bitrate": 996.6, "bitrate_measured": 1000.0,
             "tokens_per_second": 100.0,
             "stoi": 0.5, "pesq": float("nan"), "mcd": 7.0, "num_utts": 3}]
    table = scoring.format_table(rows)
    assert "| x | 996.6 | 1000.0 | 100.0 | 0.500 | - | 7.00 | 3 |" in table


def test_speaker_similarity_is_scored_for_every_system_when_given(make_speech):
    refs = {"a": make_speech(16000, 4), "b": make_speech(16000, 5)}
    calls = []

    def fake_sim(ref, deg):
        calls.append(len(deg))
        return 0.25 if len(calls) == 1 else 0.75

    res = scoring.score_system(refs, lambda k, r: (r, 1.0), spk_sim=fake_sim)
    assert res["spk_sim"] == pytest.approx(0.5) and calls == [16000, 16000]
    assert "spk_sim" not in scoring.score_system(refs, lambda k, r: (r, 1.0))
    row = {"system": "x", "bitrate": 1.0, "bitrate_measured": 1.0,
           "tokens_per_second": None, "num_utts": 2, **res}
    table = scoring.format_table([row])
    assert "| spk sim |" in table and "| 0.500 | 2 |" in table

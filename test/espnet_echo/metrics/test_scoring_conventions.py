# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Scoring reads the reference through the one data-dir reader: Kaldi ``segments``,
``cmd |`` pipes, paths with spaces and ``uem`` (issue 14)."""

import numpy as np
import pytest
import soundfile

from espnet_echo.metrics.baseline import make_baseline_hyp
from espnet_echo.metrics.scoring import score
from espnet_echo.utils.fileio import DataFileError

FS = 16000


def _wav(path, x):
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), x, FS, subtype="FLOAT")
    return str(path.resolve())


def _noise(rng, seconds):
    return (0.1 * rng.standard_normal(int(seconds * FS))).astype(np.float32)


def _lines(path, *lines):
    path.write_text("".join(line + "\n" for line in lines))


def _spk(utt, start, end, spk):
    return f"SPEAKER {utt} 1 {start:.3f} {end - start:.3f} <NA> <NA> {spk} <NA> <NA>"


@pytest.fixture
def segments_dir(tmp_path):
    """Two recordings cut by ``segments``; labels keyed by recording (recording time).

    rec1 (2 s, a path with a space) -> rec1_a [0, 1] (A 0.1-0.9), rec1_b [1, 2]
    (B 1.2-1.8); rec2 (1.5 s, read through ``cat ... |``) -> rec2_a [0.5, end]
    (A 0.6-1.2, B 0.9-1.4).
    """
    rng = np.random.default_rng(0)
    d = tmp_path / "data"
    d.mkdir()
    rec1 = _wav(tmp_path / "audio dir" / "rec 1.wav", _noise(rng, 2.0))
    rec2 = _wav(tmp_path / "audio" / "rec2.wav", _noise(rng, 1.5))
    _lines(d / "wav.scp", f"rec1 {rec1}", f"rec2 cat {rec2} |")
    _lines(d / "segments", "rec1_a rec1 0.0 1.0", "rec1_b rec1 1.0 2.0", "rec2_a rec2 0.5 -1")
    _lines(d / "rttm", _spk("rec1", 0.1, 0.9, "A"), _spk("rec1", 1.2, 1.8, "B"),
           _spk("rec2", 0.6, 1.2, "A"), _spk("rec2", 0.9, 1.4, "B"))
    _lines(d / "utt2num_spk", "rec1_a 1", "rec1_b 1", "rec2_a 2")
    _lines(d / "text_spk1", "rec1_a HELLO", "rec1_b ONE TWO", "rec2_a FOO")
    _lines(d / "text_spk2", "rec2_a BAR BAZ")
    return d


def _exact_hyp(tmp_path, extra=()):
    """The exact answer in utterance (segment) time."""
    h = tmp_path / "exp" / "decode"
    h.mkdir(parents=True)
    _lines(h / "rttm", _spk("rec1_a", 0.1, 0.9, "s1"), _spk("rec1_b", 0.2, 0.8, "s1"),
           _spk("rec2_a", 0.1, 0.7, "s1"), _spk("rec2_a", 0.4, 0.9, "s2"), *extra)
    _lines(h / "utt2num_spk", "rec1_a 1", "rec1_b 1", "rec2_a 2")
    _lines(h / "text_spk1", "rec1_a HELLO", "rec1_b ONE TWO", "rec2_a BAR BAZ")
    _lines(h / "text_spk2", "rec2_a FOO")
    return h


def test_segments_pipe_and_space_exact_hypothesis_scores_perfect(segments_dir, tmp_path):
    s = score(segments_dir, _exact_hyp(tmp_path))
    assert s["num_utts"] == 3
    for e in s["der"]:
        assert e["der"] == pytest.approx(0.0, abs=1e-9)
    # speech of the segments only, in segment time (0.8 + 0.6 + 0.6 + 0.5 s)
    assert s["der"][0]["scored_speech_s"] == pytest.approx(2.5)
    assert s["wer"]["wer"] == 0.0 and s["cpwer"]["wer"] == 0.0
    assert s["wer"]["ref_words"] == 6
    assert s["speaker_count"]["accuracy"] == 100.0


def test_oracle_of_a_segments_dir_scores_perfect(segments_dir, tmp_path):
    hyp = tmp_path / "oracle"
    make_baseline_hyp(segments_dir, hyp, "oracle")
    assert "SPEAKER rec1_b 1 0.200000 0.600000" in (hyp / "rttm").read_text()
    s = score(segments_dir, hyp)
    assert s["der"][0]["der"] == pytest.approx(0.0, abs=1e-9)
    assert s["speaker_count"]["accuracy"] == 100.0


def test_uem_of_the_reference_limits_the_scored_region(segments_dir, tmp_path):
    # false alarm at 0.0-0.05 s of rec1_a: outside a uem that starts at 0.05 s
    hyp = _exact_hyp(tmp_path, [_spk("rec1_a", 0.0, 0.05, "s2")])
    assert score(segments_dir, hyp)["der"][0]["false_alarm_s"] == pytest.approx(0.05)
    _lines(segments_dir / "uem", "rec1 1 0.05 2.0", "rec2 1 0.0 1.5")  # recording time
    s = score(segments_dir, hyp)
    assert s["der"][0]["der"] == pytest.approx(0.0, abs=1e-9)
    assert s["der"][0]["false_alarm_s"] == pytest.approx(0.0, abs=1e-9)


def test_a_bad_pipe_names_the_scp_line(segments_dir, tmp_path):
    _lines(segments_dir / "wav.scp", f"rec1 {tmp_path / 'audio dir' / 'rec 1.wav'}",
           "rec2 false |")
    with pytest.raises(Exception, match=r"wav.scp:2: the command 'false' failed"):
        score(segments_dir, _exact_hyp(tmp_path))


def test_separation_reads_pipes_and_spaces_on_both_sides(tmp_path):
    rng = np.random.default_rng(1)
    d = tmp_path / "ref"
    d.mkdir()
    s1, s2 = _noise(rng, 0.5), _noise(rng, 0.5)
    mix = _wav(tmp_path / "a b" / "mix 1.wav", s1 + s2)
    p1 = _wav(tmp_path / "src" / "s1.wav", s1)
    p2 = _wav(tmp_path / "src b" / "s 2.wav", s2)
    _lines(d / "wav.scp", f"m1 {mix}")
    _lines(d / "spk1.scp", f"m1 cat {p1} |")
    _lines(d / "spk2.scp", f"m1 {p2}")
    hyp = tmp_path / "hyp"
    hyp.mkdir()
    _lines(hyp / "spk1.scp", f"m1 {p2}")  # permuted; path with a space
    _lines(hyp / "spk2.scp", f"m1 cat {p1} |")  # pipe
    out = score(d, hyp)
    assert out["sisdr"]["si_sdr"] > 99 and out["sisdr"]["missed_sources"] == 0
    _lines(hyp / "spk2.scp", f"m1 cat {tmp_path / 'nope.wav'} |")
    with pytest.raises(Exception, match=rf"{hyp / 'spk2.scp'}:1: the command"):
        score(d, hyp)


def test_segments_reference_refuses_recording_keyed_text(segments_dir, tmp_path):
    _lines(segments_dir / "text_spk1", "rec1 HELLO", "rec1_b ONE TWO", "rec2_a FOO")
    with pytest.raises(DataFileError, match=r"text_spk1:1: 'rec1' is a recording id"):
        score(segments_dir, _exact_hyp(tmp_path))

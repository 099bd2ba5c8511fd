# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Command line of espnet_echo.bin.make_baseline_hyp (baselines: metrics/test_baseline.py)."""

import logging

import pytest

from espnet_echo.bin.make_baseline_hyp import main


@pytest.fixture
def ref_dir(tmp_path):
    """A reference dir with diarization, counting and ASR labels (no audio is read)."""
    d = tmp_path / "ref"
    d.mkdir()
    (d / "wav.scp").write_text("u1 /w/u1.wav\nu2 /w/u2.wav\n")
    # K >= 1 for every utterance: the data-dir reader refuses utt2num_spk 0 (no source)
    (d / "utt2num_spk").write_text("u1 1\nu2 2\n")
    (d / "rttm").write_text("SPEAKER u1 1 0.100 0.500 <NA> <NA> s1 <NA> <NA>\n"
                            "SPEAKER u2 1 0.200 0.300 <NA> <NA> s1 <NA> <NA>\n"
                            "SPEAKER u2 1 0.400 0.300 <NA> <NA> s2 <NA> <NA>\n")
    (d / "text_spk1").write_text("u1 HELLO\nu2 A\n")
    (d / "text_spk2").write_text("u2 B\n")
    return d


@pytest.mark.parametrize("kind, files", [
    ("oracle", ["rttm", "text_spk1", "text_spk2", "utt2num_spk"]),
    ("one_speaker", ["rttm", "text_spk1", "utt2num_spk"]),
])
def test_writes_the_baseline(ref_dir, tmp_path, caplog, kind, files):
    out = tmp_path / kind
    with caplog.at_level(logging.INFO):
        main(["--ref_dir", str(ref_dir), "--out_dir", str(out), "--kind", kind])
    assert sorted(p.name for p in out.iterdir()) == files
    assert f"{kind}: wrote " in caplog.text
    expected = "u1 1\nu2 2\n" if kind == "oracle" else "u1 1\nu2 1\n"
    assert (out / "utt2num_spk").read_text() == expected


def test_unknown_kind_is_a_usage_error(ref_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--ref_dir", str(ref_dir), "--out_dir", str(tmp_path / "x"), "--kind", "best"])
    assert e.value.code == 2 and "invalid choice: 'best'" in capsys.readouterr().err

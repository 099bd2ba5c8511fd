# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of espnet_echo.metrics.baseline (reference-derived hypothesis dirs)."""

import shutil

import pytest

from espnet_echo.metrics.baseline import make_baseline_hyp
from espnet_echo.utils.fileio import DataFileError


def test_one_speaker_files(ref_dir, make_hyp):
    hyp = make_hyp(ref_dir, "one_speaker")
    assert (hyp / "utt2num_spk").read_text() == "test_mix000000 1\ntest_mix000001 1\n"
    assert (hyp / "text_spk1").read_text() == "test_mix000000\ntest_mix000001\n"
    assert "SPEAKER test_mix000000 1 0.000 1.000 <NA> <NA> spk1" in (hyp / "rttm").read_text()
    assert (hyp / "spk1.scp").read_text() == (ref_dir / "wav.scp").read_text()


def test_oracle_copies_the_reference(ref_dir, make_hyp):
    hyp = make_hyp(ref_dir, "oracle")
    for name in ("rttm", "utt2num_spk", "spk1.scp", "spk2.scp", "text_spk1", "text_spk2"):
        assert (hyp / name).read_text() == (ref_dir / name).read_text(), name


def test_dump_layout_reference(dump_dir, make_hyp):
    hyp = make_hyp(dump_dir, "oracle")
    assert sorted(p.name for p in hyp.iterdir()) == [
        "rttm", "spk1.scp", "spk2.scp", "text_spk1", "text_spk2", "utt2num_spk"
    ]
    assert (hyp / "text_spk2").read_text() == "test_mix000000 FOO BAR BAZ\n"


def test_rerun_leaves_exactly_one_hypothesis(ref_dir, tmp_path):
    out = tmp_path / "hyp"
    make_baseline_hyp(ref_dir, out, "oracle")
    (out / "text_spk3").write_text("test_mix000000 STALE\n")
    written = make_baseline_hyp(ref_dir, out, "one_speaker")
    assert sorted(p.name for p in written) == sorted(p.name for p in out.iterdir()) == [
        "rttm", "spk1.scp", "text_spk1", "utt2num_spk"
    ]


def test_bad_kind_and_missing_reference_files(ref_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown kind 'best'"):
        make_baseline_hyp(ref_dir, tmp_path / "x", "best")
    partial = tmp_path / "ref"
    partial.mkdir()
    shutil.copy(ref_dir / "wav.scp", partial / "wav.scp")
    with pytest.raises(DataFileError, match=f"{partial / 'utt2num_spk'}: file not found"):
        make_baseline_hyp(partial, tmp_path / "y", "oracle")
    written = make_baseline_hyp(partial, tmp_path / "z", "one_speaker")
    assert [p.name for p in written] == ["utt2num_spk"]  # only the tasks the ref has

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of espnet_echo.metrics.protocol on hand-made recipe files."""

import json

import pytest

from espnet_echo.metrics.protocol import (
    PAPER_ROW,
    format_protocol_table,
    protocol_row,
    training_budget,
)
from espnet_echo.utils.fileio import DataFileError


def _log(d, epochs):
    """An ESPnet-style train.log: each epoch's start line, then its results line."""
    (d / "log").mkdir(parents=True)
    lines, start = [], 0
    for ep, (minute, steps) in enumerate(epochs, 1):
        lines.append(f"[vm] 2026-11-30 10:{start:02d}:00,000 (trainer:334) INFO: "
                     f"{ep}/9epoch started")
        start = minute
        lines.append(
            f"[vm] 2026-11-30 10:{minute:02d}:00,000 (trainer:390) INFO: {ep}epoch results: "
            f"[train] loss=1.0, total_count={steps}, [valid] loss=1.0"
        )
    (d / "log" / "train.log").write_text("\n".join(lines) + "\n")


def _json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def test_row_collects_every_axis_and_sums_the_stages(tmp_path):
    s1, s2 = tmp_path / "s1", tmp_path / "s2"
    _log(s1, [(2, 100), (4, 200)])
    _log(s2, [(3, 150)])
    _json(s2 / "decode_test_vbx" / "score" / "scores.json",
          {"der": [{"collar": 0.0, "der": 12.5}, {"collar": 0.25, "der": 9.0}]})
    _json(s2 / "kset_test" / "scores.json",
          {"pit_acc": 0.9, "k_acc": 0.75, "k_mae": 0.25, "latent_si_sdr": 4.0,
           "latent_si_sdri": 6.5})
    _json(s2 / "factorisation_probe" / "probe.json", {"gap": 41.0, "speaker_id_spk": 80.0})
    _json(s2 / "decode_test" / "score" / "scores.json",
          {"wer": {"wer": 70.0}, "by_num_spk": {"1": {"wer": {"wer": 40.0}}}})
    row = protocol_row(s2, "test", chain=[s1], name="staged")
    assert row["name"] == "staged"
    assert row["steps"] == 350 and row["minutes"] == pytest.approx(7.0)
    assert row["blind_der"] == 12.5  # collar 0, the first entry
    assert row["pit_acc"] == pytest.approx(90.0) and row["k_acc"] == pytest.approx(75.0)
    assert row["latent_si_sdri"] == 6.5 and row["k_mae"] == 0.25
    assert row["gap"] == 41.0 and row["speaker_id"] == 80.0
    assert row["wer_k1"] == 40.0 and row["wer"] == 70.0
    table = format_protocol_table([row])
    lines = table.splitlines()
    assert lines[2] == "|staged|350|7.0|12.50|90.00|4.00|6.50|75.0|0.250|41.0|80.0|40.00|70.00|"
    assert lines[3] == f"|{PAPER_ROW['name']}|-|-|15.00|97.80|9.52|-|94.4|-|53.5|-|-|-|"


def test_missing_files_leave_empty_cells(tmp_path):
    d = tmp_path / "m"
    _log(d, [(1, 10)])
    row = protocol_row(d, "test")
    assert row["steps"] == 10
    assert all(row[k] is None for k in ("blind_der", "pit_acc", "gap", "wer_k1", "wer"))
    assert "|m|10|1.0|-|-|-|-|-|-|-|-|-|-|" in format_protocol_table([row], paper=False)


def test_missing_training_log_is_named(tmp_path):
    with pytest.raises(DataFileError, match="train.log: training log not found"):
        training_budget([tmp_path / "nowhere"])
    (tmp_path / "m" / "decode_test" / "score").mkdir(parents=True)
    _log(tmp_path / "m", [(1, 10)])
    (tmp_path / "m" / "decode_test" / "score" / "scores.json").write_text("{oops")
    with pytest.raises(DataFileError, match="scores.json"):
        protocol_row(tmp_path / "m", "test")


def test_show_results_writes_the_protocol_section(tmp_path, capsys):
    from espnet_echo.bin import show_results

    s1, s2 = tmp_path / "exp" / "s1", tmp_path / "exp" / "s2"
    _log(s1, [(2, 100)])
    _log(s2, [(3, 50)])
    scores = tmp_path / "scores.json"
    _json(scores, {"name": "s2/test", "num_utts": 1,
                   "wer": {"wer": 50.0}, "by_num_spk": {"1": {"num_utts": 1}}})
    show_results.main([str(scores), "--protocol_models", f"{s2}+{s1}", str(s1)])
    out = capsys.readouterr().out
    assert "## Echo's evaluation protocol" in out
    assert "|s2|150|5.0|" in out and "|s1|100|2.0|" in out


def test_show_results_bad_input_is_one_line(tmp_path):
    from espnet_echo.bin import show_results

    scores = tmp_path / "scores.json"
    _json(scores, {"name": "m/test", "num_utts": 1})
    with pytest.raises(SystemExit, match=r"^show_results: error: .*nowhere/log/train.log: "
                                         r"training log not found"):
        show_results.main([str(scores), "--protocol_models", str(tmp_path / "nowhere")])
    with pytest.raises(SystemExit, match=r"^show_results: error: --protocol_models 'x\+'"):
        show_results.main([str(scores), "--protocol_models", "x+"])
    with pytest.raises(SystemExit, match=r"^show_results: error: .*missing.json"):
        show_results.main([str(tmp_path / "missing.json")])

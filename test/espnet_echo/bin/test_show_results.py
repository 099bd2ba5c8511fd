# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Command line of espnet_echo.bin.show_results (tables: metrics/test_report.py)."""

import json

import pytest

from espnet_echo.bin.show_results import main


def test_writes_and_prints_results(tmp_path, capsys):
    paths = []
    for name, wer in (("a", 10.0), ("b", 20.5)):
        path = tmp_path / name / "scores.json"
        path.parent.mkdir()
        path.write_text(json.dumps({"name": name, "num_utts": 4, "wer": {"wer": wer}}))
        paths.append(str(path))
    pre = tmp_path / "jepa_x"
    pre.mkdir()
    (pre / "probe.json").write_text('{"speaker_acc": 0.5}')
    out = tmp_path / "RESULTS.md"
    main(["--out", str(out), *paths, "--pretrain_dirs", str(pre)])
    text = out.read_text()
    assert capsys.readouterr().out == text
    assert "|a|4|10.00|" in text and "|b|4|20.50|" in text
    assert "|jepa_x|50.0|" in text

    main(paths[:1])  # no --out: printed only
    assert "|a|4|10.00|" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="^show_results: error: .*nope.json: file not found"):
        main([str(tmp_path / "nope.json")])
    with pytest.raises(SystemExit):  # at least one scores.json
        main(["--out", str(out)])

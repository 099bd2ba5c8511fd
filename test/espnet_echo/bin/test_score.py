# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Recipe stage 8 from the command line: make_baseline_hyp -> score -> show_results.

On a tiny simulated corpus (flite voices); the scoring itself is tested in
test/espnet_echo/metrics/.
"""

import json

import pytest

from espnet_echo.bin import make_baseline_hyp, score, show_results
from espnet_echo.bin.simulate import main as simulate_main


@pytest.fixture(scope="module")
def ref_dir(tmp_path_factory):
    """Two one-speaker test mixtures in the contract layout."""
    root = tmp_path_factory.mktemp("corpus")
    rc = simulate_main([
        "--out_dir", str(root / "data"), "--wav_dir", str(root / "wav"),
        "--num_train", "0", "--num_dev", "0", "--num_test", "2", "--min_spk", "1",
        "--max_spk", "1", "--engines", "flite", "--utts_per_spk", "2",
        "--bible_range", "Gen1:1-2:25", "--nj", "1", "--log_level", "WARNING",
    ])
    assert rc == 0
    return root / "data" / "test"


def _baseline(ref_dir, tmp_path, kind):
    out = tmp_path / kind / "decode_test"
    make_baseline_hyp.main(["--ref_dir", str(ref_dir), "--out_dir", str(out), "--kind", kind])
    return out


def _score(ref_dir, hyp, *extra):
    score.main(["--ref_dir", str(ref_dir), "--hyp_dir", str(hyp), "--out_dir",
                str(hyp / "score"), *extra])
    return json.loads((hyp / "score" / "scores.json").read_text())


def test_oracle_and_one_speaker_to_results(ref_dir, tmp_path, capsys):
    hyp = _baseline(ref_dir, tmp_path, "oracle")
    s = _score(ref_dir, hyp, "--name", "oracle/test")
    assert s["name"] == "oracle/test" and s["num_utts"] == 2
    assert [e["collar"] for e in s["der"]] == [0.0, 0.25]
    for e in s["der"]:
        assert e["der"] == pytest.approx(0.0, abs=1e-9)
    assert s["wer"]["wer"] == 0.0 and s["cpwer"]["wer"] == 0.0
    assert s["speaker_count"]["accuracy"] == 100.0
    assert s["sisdr"]["si_sdr"] > 99 and s["sisdr"]["missed_sources"] == 0
    assert s["info"] == {}
    md = (hyp / "score" / "scores.md").read_text()
    assert "|oracle/test|2|0.00|0.00|0.00/0.00/0.00|" in md

    one = _baseline(ref_dir, tmp_path, "one_speaker")
    assert _score(ref_dir, one, "--name", "one/test")["wer"]["wer"] == pytest.approx(100.0)
    out = tmp_path / "RESULTS.md"
    capsys.readouterr()
    show_results.main(["--out", str(out), str(hyp / "score" / "scores.json"),
                       str(one / "score" / "scores.json")])
    text = out.read_text()
    assert capsys.readouterr().out == text
    rows = [line for line in text.splitlines() if line.startswith(("|oracle", "|one"))]
    assert [r.split("|")[1] for r in rows] == [
        "oracle/test", "one/test",  # the main table, then one row per K and system
        "oracle/test K=1", "one/test K=1",  # this corpus has only single talkers
    ]
    assert rows[0].endswith("|0.00|0.00|100.00|0.000|")  # WER, cpWER, K acc, |K̂-K|
    assert "## Scores per reference speaker count K" in text


def test_cli_collar_option_and_default_name(ref_dir, tmp_path):
    hyp = _baseline(ref_dir, tmp_path, "one_speaker")
    (hyp / "spk1.scp").unlink()  # no separation output -> sisdr None
    s = _score(ref_dir, hyp, "--collar", "0.1")
    assert [e["collar"] for e in s["der"]] == [0.1] and s["sisdr"] is None
    assert s["name"] == "one_speaker/decode_test"


def test_bad_hypothesis_is_a_one_line_error(ref_dir, tmp_path):
    hyp = _baseline(ref_dir, tmp_path, "oracle")
    with open(hyp / "text_spk1", "a") as f:
        f.write("test_mix000099 HELLO\n")
    with pytest.raises(SystemExit) as e:
        score.main(["--ref_dir", str(ref_dir), "--hyp_dir", str(hyp), "--out_dir",
                    str(tmp_path / "unused")])
    assert str(e.value.code).startswith("espnet_echo.bin.score: error: ")
    assert "text_spk1:3" in str(e.value.code)
    assert not (tmp_path / "unused" / "scores.json").exists()


@pytest.mark.parametrize("bad", ["out_dir", "collar"])
def test_unwritable_out_dir_and_bad_collar_are_one_line_errors(ref_dir, tmp_path, bad):
    hyp = _baseline(ref_dir, tmp_path, "oracle")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    out = blocker / "score" if bad == "out_dir" else tmp_path / "score"
    collar = "-1" if bad == "collar" else "0"
    with pytest.raises(SystemExit) as e:
        score.main(["--ref_dir", str(ref_dir), "--hyp_dir", str(hyp), "--out_dir", str(out),
                    "--collar", collar])
    msg = str(e.value.code)
    assert msg.startswith("espnet_echo.bin.score: error: ") and "\n" not in msg
    assert (str(blocker) if bad == "out_dir" else "--collar") in msg

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of espnet_echo.metrics.curves: log axes, subset, exp-dir checks, epoch selection,
per-K columns, probe columns, CSV and plot."""

import csv
from pathlib import Path

import pytest

from espnet_echo.data.datadir import load_data_dir
from espnet_echo.metrics.curves import (
    COLUMNS,
    PER_K,
    PROBE,
    epoch_axes,
    find_exp_dir,
    format_table,
    has_speaker_head,
    pick_subset,
    plot_curves,
    probe_row,
    scores_row,
    select_epochs,
    write_csv,
    write_subset_dir,
)
from espnet_echo.utils.fileio import DataFileError
from espnet_echo.utils.train_log import epoch_history, training_start

# The format of a real espnet2 trainer log (trainer.py / reporter.py), shortened.
LOG = """\
/venv/bin/python3 espnet_echo/bin/echo_train.py --config conf/train.yaml
[vm] 2026-11-30 04:20:46,922 (transformer_decoder:114) INFO: Gradient checkpoint layers: []
[vm] 2026-11-30 04:20:47,266 (trainer:334) INFO: 1/3epoch started
[vm] 2026-11-30 04:20:55,000 (trainer:810) INFO: 1epoch:train:1-2batch: iter_time=0.059, loss=83.0
[vm] 2026-11-30 04:21:19,260 (trainer:392) INFO: 1epoch results: [train] iter_time=0.059, loss_diar=0.887, diar_der=0.716, loss=83.094, optim0_lr0=2.500e-04, train_time=14.004, time=28.02 seconds, total_count=2, [valid] loss_diar=0.994, diar_der=0.694, diar_spk_count_acc=1.000, sep_si_snr=-24.705, sep_null_energy_db=nan, asr_cer=1.960, asr_wer=1.000, loss=100.777, time=3.98 seconds, total_count=1
[vm] 2026-11-30 04:21:24,448 (trainer:460) INFO: The best model has been updated: valid.loss
[vm] 2026-11-30 04:21:24,448 (trainer:322) INFO: 2/3epoch started. Estimated time to finish: 37.18 seconds
[vm] 2026-11-30 04:22:47,266 (trainer:392) INFO: 2epoch results: [train] iter_time=0.026, diar_der=0.697, loss=81.382, time=12.3 seconds, total_count=4, [valid] diar_der=0.663, diar_spk_count_acc=0.500, sep_si_snr=-22.142, loss=98.722, time=3.04 seconds, total_count=2
[vm] 2026-11-30 04:22:47,300 (trainer:514) INFO: The model files were removed: exp/a/1epoch.pth
"""


def test_epoch_history_and_axes(tmp_path: Path):
    log = tmp_path / "train.log"
    log.write_text(LOG)
    hist = epoch_history(log)
    assert [e.epoch for e in hist] == [1, 2]
    assert hist[0].sections["train"]["total_count"] == 2
    assert hist[1].sections["valid"]["diar_der"] == pytest.approx(0.663)
    assert training_start(log).second == 47
    axes = epoch_axes(log)
    assert axes[1]["steps"] == 2 and axes[2]["steps"] == 4
    # epoch 1: 04:20:47.266 -> 04:21:19.260; epoch 2: 04:21:24.448 -> 04:22:47.266
    assert axes[1]["minutes"] == pytest.approx(31.994 / 60)
    assert axes[2]["minutes"] == pytest.approx((31.994 + 82.818) / 60)
    assert axes[1]["valid_der"] == pytest.approx(69.4)
    assert axes[2]["valid_k_acc"] == pytest.approx(50.0)
    assert axes[1]["valid_si_snr"] == pytest.approx(-24.705)
    assert axes[1]["valid_wer"] == pytest.approx(100.0)
    assert axes[2]["valid_wer"] is None and axes[2]["valid_cer"] is None


def test_resumed_log_keeps_last_line_and_missing_log(tmp_path: Path):
    log = tmp_path / "train.log"
    lines = LOG.splitlines()
    log.write_text("\n".join(lines + [lines[7].replace("total_count=4", "total_count=5")]))
    assert epoch_axes(log)[2]["steps"] == 5
    with pytest.raises(DataFileError, match="nope.log: training log not found"):
        epoch_history(tmp_path / "nope.log")
    empty = tmp_path / "empty.log"
    empty.write_text("no epochs\n")
    assert epoch_axes(empty) == {} and training_start(empty) is None


def _stamped(t: str, msg: str) -> str:
    return f"[vm] 2026-12-01 {t},000 (trainer:334) INFO: {msg}"


def _results(n: int, count: int, der: float) -> str:
    return (f"{n}epoch results: [train] loss=1.0, total_count={count}, "
            f"[valid] diar_der={der}, loss=2.0")


def test_appended_log_minutes_skip_resume_gaps_and_killed_runs(tmp_path: Path):
    """A resumed run appends to train.log: the interruption, the killed run of epoch 3
    and its first (re-run) results line do not count."""
    log = tmp_path / "train.log"
    log.write_text("\n".join([
        "/venv/bin/python3 espnet_echo/bin/echo_train.py --config conf/train.yaml",
        _stamped("08:00:00", "1/4epoch started"),
        _stamped("08:02:00", _results(1, 10, 0.9)),
        _stamped("08:02:10", "2/4epoch started. Estimated time to finish: 6 minutes"),
        _stamped("08:05:10", _results(2, 20, 0.8)),
        _stamped("08:05:20", "3/4epoch started. Estimated time to finish: 4 minutes"),
        _stamped("08:06:00", "3epoch:train:1-5batch: iter_time=0.05, loss=1.0"),
        "/venv/bin/python3 espnet_echo/bin/echo_train.py --config conf/train.yaml "
        "--resume true",
        _stamped("13:00:00", "3/4epoch started"),
        _stamped("13:01:00", _results(3, 30, 0.7)),
        "/venv/bin/python3 espnet_echo/bin/echo_train.py --config conf/train.yaml "
        "--resume true",
        _stamped("14:00:00", "3/4epoch started"),
        _stamped("14:02:00", _results(3, 31, 0.6)),
        _stamped("14:02:05", "4/4epoch started. Estimated time to finish: 2 minutes"),
        _stamped("14:04:05", _results(4, 41, 0.5)),
    ]) + "\n")
    axes = epoch_axes(log)
    assert list(axes) == [1, 2, 3, 4]
    assert [axes[e]["minutes"] for e in axes] == pytest.approx([2.0, 5.0, 7.0, 9.0])
    assert [axes[e]["steps"] for e in axes] == [10, 20, 31, 41]
    assert axes[3]["valid_der"] == pytest.approx(60.0)  # the last run of epoch 3


def test_truncated_log_counts_from_its_first_start(tmp_path: Path):
    """Older recipes truncated train.log on a resume: it holds the later epochs only."""
    log = tmp_path / "train.log"
    log.write_text("\n".join([
        _stamped("13:00:00", "3/4epoch started"),
        _stamped("13:01:30", _results(3, 30, 0.7)),
        _stamped("13:01:40", "4/4epoch started"),
        _stamped("13:02:40", _results(4, 40, 0.6)),
    ]) + "\n")
    axes = epoch_axes(log)
    assert list(axes) == [3, 4]
    assert [axes[3]["minutes"], axes[4]["minutes"]] == pytest.approx([1.5, 2.5])


def test_pick_subset_is_seeded_and_sorted():
    utts = [f"u{i:02d}" for i in range(20)]
    a = pick_subset(utts, 5, seed=0)
    assert a == sorted(a) and len(a) == 5 and a == pick_subset(utts[::-1], 5, seed=0)
    assert a != pick_subset(utts, 5, seed=1)
    assert pick_subset(utts, None, 0) == utts and pick_subset(utts, 50, 0) == utts
    with pytest.raises(ValueError, match="max_utts"):
        pick_subset(utts, 0, 0)


@pytest.mark.parametrize("src", ["ref_dir", "dump_dir"])
def test_subset_dir_is_a_valid_data_dir(src, request, tmp_path: Path):
    ddir = load_data_dir(request.getfixturevalue(src))
    out = write_subset_dir(ddir, ["test_mix000001"], tmp_path / "sub")
    sub = load_data_dir(out)
    assert sub.utts == ["test_mix000001"] and sub.num_spk["test_mix000001"] == 1
    sub.check_complete()
    assert "test_mix000000" not in (out / "rttm").read_text()
    write_subset_dir(ddir, ["test_mix000000"], tmp_path / "sub")  # replaces the earlier one
    assert load_data_dir(out).utts == ["test_mix000000"]


def test_find_exp_dir_errors_name_the_dir(tmp_path: Path):
    d = tmp_path / "exp_a"
    with pytest.raises(DataFileError, match="exp_a: experiment dir not found"):
        find_exp_dir(d)
    d.mkdir()
    with pytest.raises(DataFileError, match="exp_a: no config.yaml"):
        find_exp_dir(d)
    (d / "config.yaml").write_text("{}\n")
    with pytest.raises(DataFileError, match="exp_a: no log/train.log"):
        find_exp_dir(d)
    (d / "log").mkdir()
    (d / "log" / "train.log").write_text(LOG)
    (d / "valid.loss.best.pth").write_bytes(b"")
    with pytest.raises(DataFileError, match="exp_a: no <N>epoch.pth"):
        find_exp_dir(d)
    for n in (10, 2):
        (d / f"{n}epoch.pth").write_bytes(b"")
    exp = find_exp_dir(d)
    assert exp.name == "exp_a" and list(exp.checkpoints) == [2, 10]


def _exp_with(tmp_path: Path, epochs) -> Path:
    d = tmp_path / "exp_s"
    (d / "log").mkdir(parents=True)
    (d / "config.yaml").write_text("{}\n")
    (d / "log" / "train.log").write_text(LOG)
    for n in epochs:
        (d / f"{n}epoch.pth").write_bytes(b"")
    return d


def test_select_epochs(tmp_path: Path):
    exp = find_exp_dir(_exp_with(tmp_path, range(1, 8)))
    assert list(select_epochs(exp)) == list(range(1, 8))
    assert list(select_epochs(exp, every=3)) == [1, 3, 6, 7]  # + first and last kept
    assert list(select_epochs(exp, every=1)) == list(range(1, 8))
    assert list(select_epochs(exp, every=10)) == [1, 7]
    sel = select_epochs(exp, epochs=[5, 2, 5])
    assert list(sel) == [2, 5] and sel[5].name == "5epoch.pth"
    with pytest.raises(DataFileError, match=r"exp_s: no 9epoch.pth, 11epoch.pth "
                       r"\(--epochs\); the dir has 1epoch.pth, 2epoch.pth, .*7epoch.pth"):
        select_epochs(exp, epochs=[2, 11, 9])
    with pytest.raises(ValueError, match="--every must be >= 1"):
        select_epochs(exp, every=0)
    with pytest.raises(ValueError, match="at least one epoch"):
        select_epochs(exp, epochs=[])
    with pytest.raises(ValueError, match="either --epochs or --every"):
        select_epochs(exp, epochs=[1], every=2)
    # keep_nbest_models dropped the early epochs: the first kept one stands for epoch 1
    for n in (1, 2, 3):
        (exp.path / f"{n}epoch.pth").unlink()
    assert list(select_epochs(find_exp_dir(exp.path), every=3)) == [4, 6, 7]


def test_scores_row_takes_collar_0_and_none_for_missing_heads():
    scores = {"der": [{"collar": 0.25, "der": 5.0}, {"collar": 0.0, "der": 9.0}],
              "sisdr": None, "wer": {"wer": 50.0}, "cpwer": {"wer": 60.0},
              "speaker_count": {"accuracy": 75.0}, "num_utts": 4}
    row = scores_row(scores)
    assert row == {"der": 9.0, "sisdri": None, "wer": 50.0, "cpwer": 60.0,
                   "k_acc": 75.0, **dict.fromkeys(PER_K), "num_utts": 4}


def test_scores_row_per_num_spk():
    """``by_num_spk`` as scoring.score writes it; absent K / heads give None."""
    sub = lambda w, cp, sdri: {"num_utts": 1, "der": [],  # noqa: E731
                               "wer": {"wer": w}, "cpwer": {"wer": cp},
                               "sisdr": {"si_sdri": sdri} if sdri is not None else None}
    scores = {"by_num_spk": {"1": sub(10.0, 11.0, 3.0), "2": sub(20.0, 40.0, None)}}
    row = scores_row(scores)
    assert (row["wer_k1"], row["cpwer_k2"]) == (10.0, 40.0)
    assert (row["sisdri_k1"], row["sisdri_k2"], row["sisdri_k3"]) == (3.0, None, None)
    no_asr = {"by_num_spk": {"1": {"num_utts": 1, "wer": None, "cpwer": None,
                                   "sisdr": {"si_sdri": 1.5}}}}
    row = scores_row(no_asr)
    assert row["wer_k1"] is None and row["cpwer_k2"] is None and row["sisdri_k1"] == 1.5


def test_csv_table_and_plot(tmp_path: Path):
    import matplotlib.image

    rows, valid = [], {}
    for m, off in (("a", 0.0), ("b", 5.0)):
        valid[m] = {}
        for ep in (1, 2, 3):
            rows.append(dict(model=m, epoch=ep, steps=10 * ep, minutes=1.5 * ep,
                             der=50 - 5 * ep + off, sisdri=float(ep), wer=None, cpwer=None,
                             k_acc=60.0 + ep, num_utts=4, valid_der=40.0 - ep,
                             sisdri_k1=2.0 * ep, sisdri_k2=None if m == "b" else 0.5))
            valid[m][ep] = dict(steps=10 * ep, minutes=1.5 * ep, valid_der=40.0 - ep,
                                valid_k_acc=70.0, valid_si_snr=-3.0)
    path = write_csv(rows, tmp_path / "curves.csv")
    with open(path, newline="") as f:
        got = list(csv.DictReader(f))
    assert tuple(got[0]) == COLUMNS and len(got) == 6
    assert got[0]["model"] == "a" and float(got[0]["der"]) == 45.0 and got[0]["wer"] == ""
    assert float(got[1]["sisdri_k1"]) == 4.0 and got[0]["wer_k1"] == got[3]["sisdri_k2"] == ""
    table = format_table(rows)
    header = table.splitlines()[0].split()
    assert len(table.splitlines()) == 7 and "k_acc" in header
    assert header[-2:] == ["sisdri_k1", "sisdri_k2"]  # per-K columns no row has left out
    assert table.splitlines()[4].split()[-2:] == ["2", "-"]  # b, epoch 1
    png = plot_curves(rows, valid, tmp_path / "curves.png")
    img = matplotlib.image.imread(png)
    assert img.shape[0] > 300 and img.shape[1] > 600  # 2 rows x 3 metrics (no WER)
    assert img[..., :3].std() > 0.01  # not blank


def test_probe_columns_in_csv_table_and_plot(tmp_path: Path):
    import matplotlib.image

    result = {"gap": 12.5, "speaker_id_spk": 50.0, "chance_speaker": 20.0}
    assert probe_row(result) == {"factorisation_gap": 12.5, "speaker_id": 50.0}
    assert probe_row(None) == dict.fromkeys(PROBE)
    assert COLUMNS.index("speaker_id") < COLUMNS.index("num_utts")
    rows = [dict(model=m, epoch=ep, steps=10 * ep, minutes=1.5 * ep, der=40.0 - ep,
                 **probe_row({"gap": 10.0 * ep, "speaker_id_spk": 30.0 + ep}
                             if m == "spk" else None))
            for m in ("a", "spk") for ep in (1, 2)]
    with open(write_csv(rows, tmp_path / "curves.csv"), newline="") as f:
        got = list(csv.DictReader(f))
    assert got[0]["factorisation_gap"] == got[1]["speaker_id"] == ""
    assert float(got[3]["factorisation_gap"]) == 20.0 and float(got[3]["speaker_id"]) == 32.0
    table = format_table(rows).splitlines()
    assert table[0].split()[-2:] == ["factorisation_gap", "speaker_id"]
    assert table[1].split()[-2:] == ["-", "-"] and table[4].split()[-2:] == ["20", "32"]
    plain = [{k: v for k, v in r.items() if k not in PROBE} for r in rows]
    assert "speaker_id" not in format_table(plain)  # no probe: columns left out
    with_probe = matplotlib.image.imread(plot_curves(rows, {}, tmp_path / "p.png"))
    without = matplotlib.image.imread(plot_curves(plain, {}, tmp_path / "n.png"))
    assert with_probe.shape[1] > 2.5 * without.shape[1]  # DER + 2 probe panels vs DER


def test_has_speaker_head(tmp_path: Path):
    conf = tmp_path / "config.yaml"
    conf.write_text("spk_head: arcface\nspk_head_conf: {embed_dim: 8}\n")
    assert has_speaker_head(conf)
    for text in ("spk_head: null\n", "spk_head: none\n", "asr_head: multispkr\n"):
        conf.write_text(text)
        assert not has_speaker_head(conf), text
    with pytest.raises(DataFileError, match="nope.yaml: cannot read the training config"):
        has_speaker_head(tmp_path / "nope.yaml")

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""End to end: make_baseline_hyp -> score -> show_results on a tiny synthetic data dir."""

import json
import os
import shutil

import numpy as np
import pytest
import soundfile

from espnet_echo.bin import make_baseline_hyp, score, show_results
from espnet_echo.utils.audio import AudioError
from espnet_echo.utils.fileio import DataFileError

FS = 16000


def _wav(path, x, fs=FS):
    soundfile.write(str(path), x.astype(np.int16), fs, subtype="PCM_16")
    return str(path.resolve())


def _burst(rng, start, end, n=FS):
    x = np.zeros(n)
    a, b = int(start * FS), int(end * FS)
    x[a:b] = rng.normal(scale=3000, size=b - a)
    return np.round(x)


@pytest.fixture(scope="module")
def ref_dir(tmp_path_factory):
    """Two 1-s mixtures: mix0 K=2 (a [0,0.6], b [0.4,1.0]), mix1 K=1 (a [0.2,0.8])."""
    d = tmp_path_factory.mktemp("data") / "test"
    (d / "wav").mkdir(parents=True)
    rng = np.random.default_rng(0)
    utts = {
        "test_mix000000": [
            ("spkA", 0.0, 0.6, "HELLO WORLD"), ("spkB", 0.4, 1.0, "FOO BAR BAZ")
        ],
        "test_mix000001": [("spkA", 0.2, 0.8, "ONE TWO")],
    }
    files = {k: {} for k in ("wav.scp", "spk1.scp", "spk2.scp", "text_spk1", "text_spk2",
                             "utt2num_spk", "utt2num_samples", "noise.scp", "utt2spks")}
    rttm = []
    for utt, spks in utts.items():
        srcs = [_burst(rng, s, e) for _, s, e, _ in spks]
        noise = np.round(rng.normal(scale=30, size=FS))
        files["wav.scp"][utt] = _wav(d / "wav" / f"{utt}.wav", sum(srcs) + noise)
        files["noise.scp"][utt] = _wav(d / "wav" / f"{utt}_noise.wav", noise)
        for n, (spk, s, e, text) in enumerate(spks, 1):
            files[f"spk{n}.scp"][utt] = _wav(d / "wav" / f"{utt}_s{n}.wav", srcs[n - 1])
            files[f"text_spk{n}"][utt] = text
            rttm.append(f"SPEAKER {utt} 1 {s:.3f} {e - s:.3f} <NA> <NA> {spk} <NA> <NA>\n")
        files["utt2num_spk"][utt] = len(spks)
        files["utt2num_samples"][utt] = FS
        files["utt2spks"][utt] = " ".join(s[0] for s in spks)
    for name, m in files.items():
        (d / name).write_text("".join(f"{k} {v}\n" for k, v in sorted(m.items())))
    (d / "rttm").write_text("".join(rttm))
    return d


@pytest.fixture(scope="module")
def dump_dir(ref_dir, tmp_path_factory):
    """The same data in the format_data dump layout: speech_ref.scp, text_spk1..3 for all."""
    d = tmp_path_factory.mktemp("dump") / "test"
    d.mkdir()
    for name in ("wav.scp", "utt2num_spk", "utt2num_samples", "rttm"):
        shutil.copy(ref_dir / name, d / name)
    spk = [dict(line.split() for line in (ref_dir / f"spk{n}.scp").read_text().splitlines())
           for n in (1, 2)]
    utts = sorted(spk[0])
    (d / "speech_ref.scp").write_text(
        "".join(f"{u} {' '.join(m[u] for m in spk if u in m)}\n" for u in utts)
    )
    for n in (1, 2, 3):
        src = ref_dir / f"text_spk{n}"
        texts = dict(line.split(maxsplit=1) for line in src.read_text().splitlines()) \
            if src.exists() else {}
        (d / f"text_spk{n}").write_text(
            "".join(f"{u} {texts[u]}\n" if u in texts else f"{u}\n" for u in utts)
        )
    return d


def _baseline(ref_dir, tmp_path, kind):
    out = tmp_path / kind / "decode_test"
    make_baseline_hyp.main(["--ref_dir", str(ref_dir), "--out_dir", str(out), "--kind", kind])
    return out


def test_oracle_scores_perfect(ref_dir, tmp_path):
    hyp = _baseline(ref_dir, tmp_path, "oracle")
    score.main(["--ref_dir", str(ref_dir), "--hyp_dir", str(hyp), "--out_dir",
                str(hyp / "score"), "--name", "oracle/test"])
    s = json.loads((hyp / "score" / "scores.json").read_text())
    assert s["name"] == "oracle/test" and s["num_utts"] == 2
    assert [e["collar"] for e in s["der"]] == [0.0, 0.25]
    for e in s["der"]:
        assert e["der"] == pytest.approx(0.0, abs=1e-9)
    assert s["der"][0]["scored_speech_s"] == pytest.approx(0.6 + 0.6 + 0.6)
    assert s["wer"]["wer"] == 0.0 and s["cpwer"]["wer"] == 0.0
    assert s["wer"]["ref_words"] == 7
    assert s["speaker_count"]["accuracy"] == 100.0
    assert s["sisdr"]["si_sdr"] > 99 and s["sisdr"]["missed_sources"] == 0
    assert s["info"] == {}
    md = (hyp / "score" / "scores.md").read_text()
    assert "|oracle/test|2|0.00|0.00|0.00/0.00/0.00|" in md


def test_one_speaker_baseline(ref_dir, tmp_path):
    hyp = _baseline(ref_dir, tmp_path, "one_speaker")
    assert (hyp / "utt2num_spk").read_text() == "test_mix000000 1\ntest_mix000001 1\n"
    assert (hyp / "text_spk1").read_text() == "test_mix000000\ntest_mix000001\n"
    assert "SPEAKER test_mix000000 1 0.000 1.000 <NA> <NA> spk1" in (hyp / "rttm").read_text()
    s = score.score(ref_dir, hyp)
    assert s["wer"]["wer"] == pytest.approx(100.0)
    assert s["cpwer"]["wer"] == pytest.approx(100.0)
    assert s["cpwer"]["missed_speakers"] == 1
    assert s["sisdr"]["si_sdri"] == pytest.approx(0.0, abs=1e-6)
    assert s["sisdr"]["missed_sources"] == 1 and s["sisdr"]["num_sources"] == 3
    assert s["speaker_count"]["accuracy"] == pytest.approx(50.0)
    assert s["speaker_count"]["mean_abs_error"] == pytest.approx(0.5)
    # mix0: [0.4,0.6] overlap -> 0.2 s missed, one of the speakers' solo part -> 0.4 s
    # confusion; mix1 perfect.  Reference speech 1.8 s.
    der0 = s["der"][0]
    assert der0["missed_s"] == pytest.approx(0.2) and der0["confusion_s"] == pytest.approx(0.4)
    assert der0["der"] == pytest.approx(100 * 0.6 / 1.8)


def test_missing_tasks_and_utts_reported(ref_dir, tmp_path):
    hyp = tmp_path / "partial"
    hyp.mkdir()
    (hyp / "utt2num_spk").write_text("test_mix000000 2\n")  # mix1 missing
    s = score.score(ref_dir, hyp, collars=[0.0])
    assert s["der"] is None and s["sisdr"] is None and s["wer"] is None and s["cpwer"] is None
    assert s["speaker_count"]["num_utts_missing"] == 1
    assert s["speaker_count"]["accuracy"] == pytest.approx(50.0)
    (hyp / "rttm").write_text("")  # empty hypothesis rttm: all speech missed
    (hyp / "text_spk1").write_text("test_mix000000 HELLO WORLD\n")
    s = score.score(ref_dir, hyp, collars=[0.0])
    assert s["der"][0]["der"] == pytest.approx(100.0) and s["der"][0]["num_utts_missing"] == 2
    assert s["wer"]["errors"] == 5 and s["wer"]["num_utts_missing"] == 1


def test_show_results_table(ref_dir, tmp_path):
    scores = []
    for kind in ("oracle", "one_speaker"):
        hyp = _baseline(ref_dir, tmp_path, kind)
        s = score.score(ref_dir, hyp, name=kind)
        if kind == "one_speaker":
            s["info"] = {"rtf": 0.0123, "encoder_params": 1234567, "audio_sec": 2.0}
        score.write_scores(s, hyp / "score")
        scores.append(str(hyp / "score" / "scores.json"))
    out = tmp_path / "RESULTS.md"
    show_results.main(["--out", str(out)] + scores)
    text = out.read_text()
    header = next(line for line in text.splitlines() if line.startswith("|system"))
    assert header == (
        "|system|#Utt|DER c=0 (%)|DER c=0.25 (%)|Miss/FA/Conf c=0 (%)|SI-SDR (dB)|"
        "SI-SDRi (dB)|WER (%)|cpWER (%)|K acc (%)|mean \\|K̂-K\\||encoder_params|rtf|"
    )
    rows = {line.split("|")[1]: line for line in text.splitlines() if line.startswith("|o")}
    assert rows["oracle"].endswith("|0.00|0.00|100.00|0.000|-|-|")
    assert rows["one_speaker"].endswith("|100.00|100.00|50.00|0.500|1234567|0.0123|")
    with pytest.raises(DataFileError, match="nope.json"):
        show_results.main([str(tmp_path / "nope.json")])


def _copy_hyp(ref_dir, tmp_path, name):
    src = _baseline(ref_dir, tmp_path, "oracle")
    dst = tmp_path / name
    shutil.copytree(src, dst)
    return dst


def test_bad_rttm_line_names_file(ref_dir, tmp_path):
    hyp = _copy_hyp(ref_dir, tmp_path, "bad_rttm")
    with open(hyp / "rttm", "a") as f:
        f.write("SPEAKER test_mix000000 1 0.5 <NA> <NA> x <NA> <NA>\n")
    with pytest.raises(DataFileError, match=rf"{hyp / 'rttm'}:4: .* must be numbers"):
        score.score(ref_dir, hyp)


def test_unknown_hyp_utt_names_file_and_line(ref_dir, tmp_path):
    hyp = _copy_hyp(ref_dir, tmp_path, "unknown_utt")
    with open(hyp / "text_spk1", "a") as f:
        f.write("test_mix000099 HELLO\n")
    with pytest.raises(DataFileError, match=rf"{hyp / 'text_spk1'}:3: .*'test_mix000099'"):
        score.score(ref_dir, hyp)
    # the CLI turns it into a one-line error exit
    with pytest.raises(SystemExit) as e:
        score.main(["--ref_dir", str(ref_dir), "--hyp_dir", str(hyp), "--out_dir",
                    str(tmp_path / "unused")])
    assert "text_spk1:3" in str(e.value.code)
    assert not (tmp_path / "unused" / "scores.json").exists()


def test_wrong_sample_rate_names_file(ref_dir, tmp_path):
    hyp = _copy_hyp(ref_dir, tmp_path, "bad_fs")
    bad = tmp_path / "est8k.wav"
    _wav(bad, np.zeros(8000), fs=8000)
    (hyp / "spk1.scp").write_text(
        f"test_mix000000 {bad}\n"
        + (hyp / "spk1.scp").read_text().splitlines(keepends=True)[1]
    )
    with pytest.raises(AudioError, match=rf"spk1.scp:1: {bad}: sample rate 8000 Hz"):
        score.score(ref_dir, hyp)


def test_gap_in_numbered_files(ref_dir, tmp_path):
    hyp = _copy_hyp(ref_dir, tmp_path, "gap")
    os.rename(hyp / "text_spk2", hyp / "text_spk3")
    with pytest.raises(DataFileError, match="text_spk2: file not found"):
        score.score(ref_dir, hyp)


def test_cli_collar_option_and_default_name(ref_dir, tmp_path):
    hyp = _baseline(ref_dir, tmp_path, "one_speaker")
    (hyp / "spk1.scp").unlink()  # no separation output -> sisdr None
    score.main(["--ref_dir", str(ref_dir), "--hyp_dir", str(hyp), "--out_dir",
                str(hyp / "score"), "--collar", "0.1"])
    s = json.loads((hyp / "score" / "scores.json").read_text())
    assert [e["collar"] for e in s["der"]] == [0.1] and s["sisdr"] is None
    assert s["name"] == "one_speaker/decode_test"


def test_dump_layout_reference(dump_dir, tmp_path):
    hyp = _baseline(dump_dir, tmp_path, "oracle")
    assert sorted(p.name for p in hyp.iterdir()) == [
        "rttm", "spk1.scp", "spk2.scp", "text_spk1", "text_spk2", "utt2num_spk"
    ]
    assert (hyp / "text_spk2").read_text() == "test_mix000000 FOO BAR BAZ\n"
    s = score.score(dump_dir, hyp)
    assert s["wer"]["wer"] == 0.0 and s["cpwer"]["false_speakers"] == 0
    assert s["wer"]["ref_words"] == 7
    assert s["sisdr"]["si_sdr"] > 99 and s["sisdr"]["num_sources"] == 3
    one = score.score(dump_dir, _baseline(dump_dir, tmp_path, "one_speaker"))
    assert one["cpwer"]["missed_speakers"] == 1 and one["sisdr"]["missed_sources"] == 1


def test_reference_transcript_beyond_k_is_an_error(dump_dir, tmp_path):
    bad = tmp_path / "bad_dump"
    shutil.copytree(dump_dir, bad)
    (bad / "text_spk2").write_text("test_mix000000 FOO BAR BAZ\ntest_mix000001 EXTRA\n")
    hyp = _baseline(dump_dir, tmp_path, "one_speaker")
    with pytest.raises(DataFileError, match=r"text_spk2:2: .*K=1"):
        score.score(bad, hyp)


def test_show_results_pretrain_table(ref_dir, tmp_path):
    hyp = _baseline(ref_dir, tmp_path, "oracle")
    score.write_scores(score.score(ref_dir, hyp, name="oracle"), hyp / "score")
    random_dir, jepa_dir = tmp_path / "jepa_probe_random", tmp_path / "jepa_pretrain"
    for d, acc in ((random_dir, 0.25), (jepa_dir, 0.8)):
        d.mkdir()
        (d / "probe.json").write_text(
            f'{{"speaker_acc": {acc}, "speaker_chance": 0.1, "ctc_cer": 0.9}}'
        )
    (jepa_dir / "log").mkdir()
    (jepa_dir / "log" / "train.log").write_text(
        "x INFO: 3epoch results: [train] loss=1.0, [valid] loss_jepa=0.5, "
        "target_std=0.75, target_eff_rank=12.5, cluster_entropy=0.9\n"
    )
    out = tmp_path / "RESULTS.md"
    show_results.main(
        ["--out", str(out), str(hyp / "score" / "scores.json"),
         "--pretrain_dirs", str(random_dir), str(jepa_dir)]
    )
    lines = out.read_text().splitlines()
    assert "## Pretraining (stage 5)" in lines
    header = next(line for line in lines if line.startswith("|encoder"))
    assert header == (
        "|encoder|speaker ID acc (%)|chance (%)|CTC probe CER (%)|epochs|loss_jepa|"
        "target std|target eff. rank|cluster entropy|"
    )
    rows = {line.split("|")[1]: line for line in lines if line.startswith("|jepa")}
    assert rows["jepa_probe_random"] == "|jepa_probe_random|25.0|10.0|90.0|-|-|-|-|-|"
    assert rows["jepa_pretrain"] == "|jepa_pretrain|80.0|10.0|90.0|3|0.5000|0.750|12.5|0.900|"

"""The stage driver end to end on a tiny generated corpus (stages 1-4 and 8)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(REPO / "egs2", root / "egs2", symlinks=True,
                    ignore=shutil.ignore_patterns("data", "dump", "exp", "RESULTS.md"))
    return root / "egs2" / "mini_mix" / "echo1"


def run(recipe: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, VIRTUAL_ENV=sys.prefix,
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    return subprocess.run(
        ["./run.sh", "--nj", "1", "--local_data_opts",
         "--num_train 8 --num_dev 3 --num_test 4 --nj 1 --num_test_conv 2 "
         "--conv_min_sec 20 --conv_max_sec 25 --conv_max_spk 4 --num_probe_sentences 2",
         *args],
        cwd=recipe, env=env, capture_output=True, text=True, timeout=900,
    )


def _defaults(script: Path) -> dict:
    """``name -> default`` of the option block of a recipe script."""
    text = script.read_text()
    block = text[text.index("# Options:"):text.index("# End of options")]
    return {m[0]: m[1] if m[1] else m[2]
            for m in re.findall(r'^([a-z_]+)=(?:"([^"]*)"|(\S*))', block, re.M)}


def test_help_lists_every_option_with_its_default(recipe):
    defaults = _defaults(recipe / "echo.sh")
    assert {"stage", "nj", "inference_nj", "baselines", "local_data_opts"} <= set(defaults)
    proc = subprocess.run(["./echo.sh", "--help"], cwd=recipe, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == ""  # ESPnet: help on stderr
    lines = proc.stderr.splitlines()
    for name, value in defaults.items():
        line = next((x for x in lines if x.split()[:1] == [f"--{name}"]), None)
        assert line is not None, f"--{name} missing from --help"
        assert line.endswith(f'(default="{value}").'), line

    proc = subprocess.run(["./run.sh", "--help"], cwd=recipe, capture_output=True, text=True)
    assert proc.returncode == 0
    assert "--pretrain_ablation" in proc.stderr and "--inference_nj" in proc.stderr
    assert "--reference" in proc.stderr and "--staged" in proc.stderr
    proc = subprocess.run(["./echo.sh", "--train_configs", "x.yaml", "stray"], cwd=recipe,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "no positional argument" in proc.stdout


@pytest.mark.parametrize("opts, message", [
    (["--reference", "maybe"], "--reference takes true or false, got 'maybe'"),
    (["--staged", "true", "--reference", "true"], "--staged and --reference are two different runs"),
    (["--ablations", "true", "--reference", "true"], "--reference trains only the two reference models"),
])
def test_run_sh_flags_are_checked(recipe, opts, message):
    proc = subprocess.run(["./run.sh", *opts], cwd=recipe, capture_output=True, text=True)
    assert proc.returncode == 2 and message in proc.stderr, proc.stdout + proc.stderr


@pytest.mark.parametrize("cmd, message", [
    (["local/kset_curve.sh", "exp/no_such_model"], "exp/no_such_model/config.yaml not found"),
    (["local/reference_report.sh", "stray"], "Usage: local/reference_report.sh [--every N]"),
    (["local/reference_report.sh", "--every", "0"], "--every takes a positive integer, got '0'"),
    (["local/asr_init_experiment.sh", "--src_epochs", "abc"],
     "--src_epochs takes a positive integer, got 'abc'"),
])
def test_local_report_scripts_refuse_bad_calls(recipe, cmd, message):
    proc = subprocess.run(cmd, cwd=recipe, capture_output=True, text=True)
    assert proc.returncode in (1, 2) and message in proc.stderr, proc.stdout + proc.stderr


def test_kset_curve_checks_the_data_dir(recipe, tmp_path):
    (tmp_path / "config.yaml").write_text("sep_head: kset\n")
    proc = subprocess.run(["local/kset_curve.sh", str(tmp_path), "/no/such"], cwd=recipe,
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "/no/such/wav.scp not found" in proc.stderr


def test_reference_configs_are_the_mini_configs_for_longer(recipe):
    """conf/tuning/*_reference.yaml: the make-mini model, only trained longer, every epoch kept."""
    for name in ("echo", "ume_ebf"):
        base = yaml.safe_load((recipe / f"conf/train_{name}.yaml").read_text())
        ref = yaml.safe_load((recipe / f"conf/tuning/train_{name}_reference.yaml").read_text())
        assert ref["max_epoch"] > base["max_epoch"] and ref["keep_nbest_models"] == ref["max_epoch"]
        for key in ("max_epoch", "keep_nbest_models"):
            base.pop(key), ref.pop(key)
        assert ref == base, name


@pytest.mark.parametrize("opts, message", [
    (["--num_nodes", "0"], "--num_nodes takes a positive integer, got '0'"),
    (["--num_nodes", "abc"], "--num_nodes takes a positive integer, got 'abc'"),
    (["--num_nodes", "2"], "--num_nodes 2 needs --dist_launcher slurm or mpi"),
    (["--dist_launcher", "pbs"], "--dist_launcher takes slurm or mpi"),
    (["--num_nodes", "2", "--dist_launcher", "slurm"],
     "runs jobs with slurm.pl, which is neither an executable path nor on PATH"),
])
def test_scale_out_options_are_checked_before_any_stage(recipe, opts, message):
    proc = subprocess.run(["./echo.sh", "--train_configs", "x.yaml", *opts], cwd=recipe,
                          capture_output=True, text=True,
                          env=dict(os.environ, PATH="/usr/bin:/bin"))
    assert proc.returncode == 2 and message in proc.stdout, proc.stdout + proc.stderr


def test_split_data_dir_for_parallel_decoding(tmp_path):
    """Stage 7's split: contiguous parts of the key file; with segments, every part
    also lists the recordings of its segments (both parts for a straddling one)."""
    split = REPO / "egs2/TEMPLATE/echo1/utils/split_data_dir.sh"
    src = tmp_path / "src"
    src.mkdir()
    (src / "wav.scp").write_text("r1 /a/r1.wav\nr2 /a/r 2.wav\nr3 cat /a/r3.wav |\n")
    subprocess.run([split, src, "2", tmp_path / "plain"], check=True)
    assert (tmp_path / "plain/1/wav.scp").read_text() == "r1 /a/r1.wav\nr2 /a/r 2.wav\n"
    assert (tmp_path / "plain/2/wav.scp").read_text() == "r3 cat /a/r3.wav |\n"
    assert not (tmp_path / "plain/1/segments").exists()

    (src / "segments").write_text(
        "s1 r1 0 1\ns2 r1 1 2\ns3 r2 0 1\ns4 r3 0 1\ns5 r3 1 2\n")
    subprocess.run([split, src, "3", tmp_path / "seg"], check=True)
    parts = [tmp_path / "seg" / str(j) for j in (1, 2, 3)]
    assert [p.joinpath("segments").read_text().split()[::4] for p in parts] == [
        ["s1", "s2"], ["s3", "s4"], ["s5"]]
    assert [p.joinpath("wav.scp").read_text().splitlines() for p in parts] == [
        ["r1 /a/r1.wav"], ["r2 /a/r 2.wav", "r3 cat /a/r3.wav |"], ["r3 cat /a/r3.wav |"]]
    proc = subprocess.run([split, src, "6", tmp_path / "x"], capture_output=True, text=True)
    assert proc.returncode == 1 and "5 lines" in proc.stderr


def test_stages_1_to_4_and_scoring(recipe):
    proc = run(recipe, "--stage", "1", "--stop_stage", "4")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for split in ("train", "dev", "test", "test_conv", "probe"):
        assert (recipe / "dump/raw" / split / "speech_ref.scp").is_file()
    assert (recipe / "data/token_list/char/tokens.txt").read_text().startswith("<blank>\n")
    # the conversations keep every speaker's transcript, beyond the model's 3 slots
    max_k = max(int(x.split()[1]) for x in
                (recipe / "dump/raw/test_conv/utt2num_spk").read_text().splitlines())
    assert (recipe / f"dump/raw/test_conv/text_spk{max_k}").is_file()
    # speaker ids of the training speakers (the speaker heads' targets), -1 for unseen
    spk_list = (recipe / "data/spk_list/spk_list.txt").read_text().split()
    ids = (recipe / "dump/raw/train/spk_ids").read_text().split("\n")[0].split()[1:]
    assert ids and all(0 <= int(i) < len(spk_list) for i in ids)
    assert (recipe / "exp/stats_fbank/train/feats_stats.npz").is_file()

    proc = run(recipe, "--stage", "8", "--stop_stage", "8")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = (recipe / "RESULTS.md").read_text()
    oracle = next(line for line in table.splitlines() if line.startswith("|oracle/test|"))
    conv = next(line for line in table.splitlines() if line.startswith("|oracle/test_conv|"))
    assert conv.split("|")[3] == "0.00"
    trivial = next(line for line in table.splitlines() if line.startswith("|one_speaker/test|"))
    assert oracle.split("|")[3] == "0.00"  # DER, collar 0
    assert trivial.split("|")[8] == "100.00"  # WER of empty hypotheses
    assert float(trivial.split("|")[3]) > 0


def test_stages_are_idempotent(recipe):
    stamp = (recipe / "dump/raw/test/wav.scp").stat().st_mtime_ns
    stats = (recipe / "exp/stats_fbank/train/feats_stats.npz").stat().st_mtime_ns
    proc = run(recipe, "--stage", "2", "--stop_stage", "4")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "up to date" in proc.stdout + proc.stderr
    assert (recipe / "dump/raw/test/wav.scp").stat().st_mtime_ns == stamp
    assert (recipe / "exp/stats_fbank/train/feats_stats.npz").stat().st_mtime_ns == stats


def test_corrupt_audio_fails_stage_2_and_keeps_the_dump(recipe):
    before = (recipe / "dump/raw/test/wav.scp").read_text()
    wav = Path((recipe / "data/test/wav.scp").read_text().split()[1])
    data = wav.read_bytes()
    try:
        wav.write_bytes(data[: len(data) // 2])  # truncated file
        proc = run(recipe, "--stage", "2", "--stop_stage", "2")
        assert proc.returncode != 0
        assert re.search(re.escape(wav.name) + r".*truncated", proc.stdout + proc.stderr)
        assert (recipe / "dump/raw/test/wav.scp").read_text() == before
    finally:
        wav.write_bytes(data)


def _row(table: str, system: str) -> list:
    return next(line for line in table.splitlines() if line.startswith(f"|{system}|")).split("|")


def test_ci_scale_training_learns(recipe):
    """Stages 6-8 with a tiny model: the loss falls and the model fits its training
    mixtures better than the trivial one-speaker hypothesis (DER, speaker count).

    A few dozen CPU steps cannot generalise to held-out speakers, so this test decodes the
    training split; the held-out comparison is the mini recipe's job (README).
    """
    proc = run(recipe, "--stage", "6", "--stop_stage", "8",
               "--train_configs", "conf/train_echo_ci.yaml", "--test_sets", "train",
               "--baselines", "one_speaker", "--results", "RESULTS_ci.md",
               "--inference_args", "--diar_threshold 0.5")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = (recipe / "exp/echo_train_echo_ci/log/train.log").read_text()
    losses = [float(x) for x in re.findall(r"epoch results: \[train\].*?\bloss=([-\d.e+]+)", log)]
    assert len(losses) >= 10
    assert losses[-1] < losses[0] - 1.0, losses
    sisnr = [float(x) for x in re.findall(r"\[train\].*?sep_si_snr=([-\d.e+]+)", log)]
    assert sisnr[-1] > sisnr[0] + 3.0, sisnr
    # the ArcFace speaker head learns its training speakers through the same trainer
    spk = [float(x) for x in re.findall(r"\[train\].*?loss_spk=([-\d.e+]+)", log)]
    assert len(spk) == len(losses) and spk[-1] < spk[0], spk

    table = (recipe / "RESULTS_ci.md").read_text()
    echo, trivial = _row(table, "echo_train_echo_ci/train"), _row(table, "one_speaker/train")
    assert float(echo[3]) < float(trivial[3])  # DER, collar 0
    # stage 7 fitted a PLDA and decoded blind (ArcFace + VBx) too; stage 8 scored it
    assert (recipe / "exp/echo_train_echo_ci/plda.npz").is_file()
    vbx = _row(table, "echo_train_echo_ci+vbx/train")
    assert 0.0 <= float(vbx[3]) <= 100.0 and vbx[10] != "-"  # DER, K accuracy
    dec = recipe / "exp/echo_train_echo_ci/decode_train"
    for path in dec.glob("spk*.scp"):
        assert path.read_text().strip()

    # Stage 7 split the 8 mixtures over --inference_nj 2 jobs and merged their outputs
    # into one complete hypothesis dir whose wavs live in it.
    logs = sorted(p.name for p in (dec / "logdir").glob("inference.*.log"))
    assert logs == ["inference.1.log", "inference.2.log"]
    utts = [x.split()[0] for x in (recipe / "dump/raw/train/wav.scp").read_text().splitlines()]
    assert [x.split()[0] for x in (dec / "utt2num_spk").read_text().splitlines()] == utts
    for path in dec.glob("spk*.scp"):
        for line in path.read_text().splitlines():
            wav = Path(line.split()[1])
            assert wav.parent == (dec / "wav").resolve() and wav.is_file(), line
    assert json.loads((dec / "info.json").read_text())["num_utts"] == len(utts)
    # A re-run finds both jobs and the merge current.
    stamp = (dec / "utt2num_spk").stat().st_mtime_ns
    proc = run(recipe, "--stage", "7", "--stop_stage", "7",
               "--train_configs", "conf/train_echo_ci.yaml", "--test_sets", "train")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 of 2 jobs were up to date; skipped" in proc.stdout
    assert "decode_train is up to date; skipped" in proc.stdout
    assert (dec / "utt2num_spk").stat().st_mtime_ns == stamp


def test_stage_5_pretrains_probes_and_initialises_stage_6(recipe):
    """Stage 5 (pretraining list, GMM, GMM-anchored JEPA, probes) on the tiny corpus, then
    stage 6 initialises the joint model's encoder from the EMA target; re-running stage 5
    skips every step; the RESULTS table gets the pretraining section."""
    pre = ["--pretrain_configs", "conf/pretrain_jepa_ci.yaml", "--gmm_components", "4",
           "--probe_max_utts", "8"]
    proc = run(recipe, "--stage", "5", "--stop_stage", "6", *pre,
               "--train_configs", "conf/train_echo_jepa_ci.yaml",
               "--train_args", "--max_epoch 1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jepa = recipe / "exp/jepa_pretrain_jepa_ci"
    assert (recipe / "exp/gmm_ci/gmm.npz").is_file() and (jepa / "latest.pth").exists()
    ssl = (recipe / "dump/raw/train_ssl/wav.scp").read_text().split("\n")
    assert any("-src1 " in line for line in ssl)  # clean sources beside the mixtures
    log = (jepa / "log/train.log").read_text()
    jepa_loss = [float(x) for x in re.findall(r"\[train\].*?\bloss_jepa=([-\d.e+]+)", log)]
    target_std = [float(x) for x in re.findall(r"\[train\].*?\btarget_std=([-\d.e+]+)", log)]
    assert len(jepa_loss) == 4 and jepa_loss[-1] < jepa_loss[0], jepa_loss
    assert min(target_std) > 0.01, target_std  # no collapse
    for d in (recipe / "exp/jepa_probe_random", jepa):
        assert '"speaker_acc"' in (d / "probe.json").read_text()
    down = (recipe / "exp/echo_train_echo_jepa_ci/log/train.log").read_text()
    assert "Loading pretrained params from exp/jepa_pretrain_jepa_ci/latest.pth" in down

    proc = run(recipe, "--stage", "5", "--stop_stage", "5", *pre)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "is trained; skipped" in out and out.count("is up to date; skipped") >= 3

    proc = run(recipe, "--stage", "8", "--stop_stage", "8", *pre,
               "--train_configs", "conf/train_echo_jepa_ci.yaml", "--results", "RESULTS_5.md")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = (recipe / "RESULTS_5.md").read_text()
    header = _row(table, "encoder")
    random_row = dict(zip(header, _row(table, "jepa_probe_random")))
    jepa_row = dict(zip(header, _row(table, "jepa_pretrain_jepa_ci")))
    # the tiny corpus rarely repeats a speaker, so the speaker probe may be skipped
    assert random_row["CTC probe CER (%)"] != "-" and jepa_row["CTC probe CER (%)"] != "-"
    for column in ("target std", "target eff. rank", "cluster entropy"):
        assert jepa_row[column] != "-" and random_row[column] == "-"


def _staged_ci_configs(recipe: Path) -> list:
    """conf/staged/staged_s1..s4 at CI scale: train_echo_jepa_ci.yaml's encoder (so the
    CI-scale JEPA checkpoint initialises stage 1), tiny heads, one epoch of 4-mixture
    batches; the chain of init_param and freeze_param is the recipe's own."""
    import yaml

    ci = yaml.safe_load((recipe / "conf/train_echo_jepa_ci.yaml").read_text())
    out_dir = recipe / "conf/staged_ci"
    out_dir.mkdir(exist_ok=True)
    names = []
    for src in sorted((recipe / "conf/staged").glob("staged_s*.yaml")):
        conf = yaml.safe_load(src.read_text())
        conf["encoder_conf"] = ci["encoder_conf"]
        conf["asr_head_conf"].update(linear_units=64)
        for head, small in (("diar_head", {"hidden_size": 32}),
                            ("spk_head", ci["spk_head_conf"]),
                            ("sep_head", {"hidden_size": 32, "num_layers": 1,
                                          "linear_units": 64})):
            if conf.get(head):
                conf[f"{head}_conf"].update(small)
        conf.update(batch_type="unsorted", batch_size=4, max_epoch=1)
        conf.pop("batch_bins", None)
        conf["init_param"] = [
            p.replace("jepa_pretrain_jepa_gmm_daam", "jepa_pretrain_jepa_ci")
            for p in conf["init_param"]
        ]
        (out_dir / src.name).write_text(yaml.safe_dump(conf))
        names.append(f"conf/staged_ci/{src.name}")
    return names


def test_staged_recipe_chains_the_stages_and_writes_the_protocol_table(recipe):
    """``--staged``'s chain at CI scale (after the stage-5 test's JEPA encoder): each stage
    initialises from the previous one and freezes what the config says, a stage re-runs
    alone and is skipped when current, a newer earlier stage retrains the later ones,
    stage 7 scores the K-set model's latent separation and stage 8 writes the protocol
    table with the stages' steps summed."""
    configs = _staged_ci_configs(recipe)
    # no factorisation probes (--probe_set ""): the protocol columns they fill are
    # file reads tested in test/espnet_echo/metrics/test_protocol.py
    common = ["--test_sets", "train", "--baselines", "one_speaker", "--probe_set", "",
              "--results", "RESULTS_staged_ci.md", "--protocol", "true"]
    proc = run(recipe, "--stage", "6", "--stop_stage", "8",
               "--train_configs", " ".join(configs), *common)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    exp = recipe / "exp"
    s = {n: exp / f"echo_staged_{n}" for n in ("s1_content", "s2_bottleneck", "s3_spk",
                                               "s4_kset")}
    logs = {n: (d / "log/train.log").read_text() for n, d in s.items()}
    assert "Loading pretrained params from exp/jepa_pretrain_jepa_ci/latest.pth" in logs["s1_content"]
    for prev, cur in (("s1_content", "s2_bottleneck"), ("s2_bottleneck", "s3_spk"),
                      ("s3_spk", "s4_kset")):
        assert f"Loading pretrained params from exp/echo_staged_{prev}/valid.loss.best.pth" \
            in logs[cur]
    assert "Setting encoder.encoders.0." in logs["s4_kset"]  # ESPnet logs each parameter
    assert "Setting heads.asr." in logs["s3_spk"] and "Setting encoder." not in logs["s3_spk"]
    # the frozen encoder of stage 4 is stage 3's, bit for bit
    import torch

    s3 = torch.load(s["s3_spk"] / "valid.loss.best.pth", weights_only=True)
    s4 = torch.load(s["s4_kset"] / "valid.loss.best.pth", weights_only=True)
    for k, v in s3.items():
        if k.startswith(("encoder.", "heads.asr.", "heads.spk.")):
            assert torch.equal(v, s4[k]), k
    assert int(s4["target_initialised"]) == 1
    # stage 7: the K-set model's latent metrics; stage 8: the protocol table
    kset = json.loads((s["s4_kset"] / "kset_train/scores.json").read_text())
    assert kset["utterances"] == 8 and 0.0 <= kset["k_acc"] <= 1.0
    table = (recipe / "RESULTS_staged_ci.md").read_text()
    assert "## Echo's evaluation protocol" in table
    header = _row(table, "model")
    rows = {n: dict(zip(header, _row(table, f"echo_staged_{n}"))) for n in s}
    steps = {n: int(r["steps"]) for n, r in rows.items()}
    assert steps["s2_bottleneck"] == steps["s1_content"] + 2  # 1 epoch of 2 batches more
    assert steps["s4_kset"] == steps["s3_spk"] + 2
    assert rows["s4_kset"]["K-routing acc (%)"] != "-" and rows["s4_kset"]["blind DER c=0 (%)"] != "-"
    assert rows["s1_content"]["K-routing acc (%)"] == "-"
    assert rows["s1_content"]["WER K=1 (%)"] != "-" or rows["s1_content"]["WER (%)"] != "-"

    # a stage re-runs alone: current -> skipped; a newer earlier stage -> retrained
    proc = run(recipe, "--stage", "6", "--stop_stage", "6", "--train_configs", configs[2])
    assert proc.returncode == 0 and "is trained; skipped" in proc.stdout + proc.stderr
    os.utime(s["s2_bottleneck"] / "valid.loss.best.pth")
    proc = run(recipe, "--stage", "6", "--stop_stage", "6", "--train_configs", configs[2])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "is trained; skipped" not in proc.stdout + proc.stderr
    # ... afresh: the stale dir is set aside, not resumed (which would train nothing)
    assert "moved to exp/echo_staged_s3_spk.stale" in proc.stdout + proc.stderr
    assert (exp / "echo_staged_s3_spk.stale" / "valid.loss.best.pth").exists()
    log = (s["s3_spk"] / "log/train.log").read_text()
    assert "already reached at max_epoch" not in log and "1epoch results" in log

    # an interrupted run (no "finished" line) resumes and keeps its log's earlier epochs
    log_path = s["s3_spk"] / "log/train.log"
    log_path.write_text("\n".join(x for x in log.splitlines()
                                   if "The training was finished at" not in x) + "\n")
    proc = run(recipe, "--stage", "6", "--stop_stage", "6", "--train_configs", configs[2])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "resuming from its checkpoint.pth" in proc.stdout + proc.stderr
    resumed = log_path.read_text()
    assert resumed.startswith(log.splitlines()[0]) and "1epoch results" in resumed
    assert "resumed by echo.sh" in resumed and "The training was finished at" in resumed

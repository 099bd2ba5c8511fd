"""A 2-process distributed (DDP, gloo, CPU) training run through ESPnet's own mechanism.

ESPnet's ``AbsTask.main`` cannot spawn CPU workers itself: with
``--multiprocessing_distributed true`` it asserts ``args.ngpu > 1`` before spawning one
process per GPU, and ``resolve_distributed_mode`` turns the flag off for ``--ngpu 0``.
The CPU route it does support is the one ``espnet2.bin.launch`` takes for CPU jobs (its
``--host`` and slurm/mpi modes with ``--ngpu 0``): one process per rank, each started
with ``--multiprocessing_distributed false --dist_rank R --dist_world_size W
--dist_backend gloo`` and a shared init method (case "d" of
``espnet2.train.distributed_utils.resolve_distributed_mode``). The test starts the two
ranks itself that way, on a tiny EchoTask model (Echo ViT encoder + EEND head) and four
generated 1 s mixtures: 2 steps of 2 mixtures, one per rank (ESPnet's batch sampler
gives rank r the slice ``batch[r::world_size]``).

Each rank runs ``espnet_echo.bin.echo_train``'s EchoTask under a wrapper that saves the
model's parameters before and after ``Trainer.run``: both ranks ran, their parameters
are identical after training (DDP kept them in sync) and differ from the start (the
steps did update them), and rank 0's checkpoint holds the same parameters.
"""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

FS = 8000
WORLD = 2

TINY = [
    "--frontend_conf", "fs=8000", "--frontend_conf", "n_fft=128",
    "--frontend_conf", "hop_length=64", "--frontend_conf", "n_mels=16",
    "--encoder", "echo_vit", "--encoder_conf", "output_size=32",
    "--encoder_conf", "num_blocks=2", "--encoder_conf", "attention_heads=2",
    "--encoder_conf", "linear_units=32",
    "--diar_head", "eend", "--asr_head", "none", "--sep_head", "none",
    "--num_spk", "2",
]

RUNNER = textwrap.dedent(
    """
    import sys, torch
    from espnet2.train.trainer import Trainer
    from espnet_echo.tasks.echo import EchoTask

    dump, rank = sys.argv[1], sys.argv[2]
    _run = Trainer.run.__func__

    def run(cls, model, *args, **kwargs):
        state = lambda: {k: v.detach().clone() for k, v in model.state_dict().items()}
        torch.save(state(), f"{dump}/rank{rank}_init.pth")
        _run(cls, model, *args, **kwargs)
        torch.save(state(), f"{dump}/rank{rank}_final.pth")

    Trainer.run = classmethod(run)
    EchoTask.main(cmd=sys.argv[3:])
    """
)


def _data(root: Path, n: int = 4):
    """n one-second two-speaker noise mixtures: wav.scp, espnet_rttm, speech_shape."""
    rng = np.random.default_rng(0)
    (root / "wav").mkdir(parents=True)
    wav, rttm, shape = [], [], []
    for i in range(n):
        utt = f"mix{i}"
        path = root / "wav" / f"{utt}.wav"
        sf.write(path, 0.1 * rng.standard_normal(FS).astype(np.float32), FS)
        wav.append(f"{utt} {path}")
        rttm += [f"SPEAKER {utt} 1 0 5000 <NA> <NA> s{i}a <NA>",
                 f"SPEAKER {utt} 1 3000 8000 <NA> <NA> s{i}b <NA>",
                 f"END {utt} <NA> <NA> {FS} <NA> <NA> <NA> <NA>"]
        shape.append(f"{utt} {FS}")
    for name, lines in (("wav.scp", wav), ("espnet_rttm", rttm), ("speech_shape", shape)):
        (root / name).write_text("\n".join(lines) + "\n")
    return root


def test_two_process_gloo_ddp_step(tmp_path):
    data = _data(tmp_path / "data")
    out, dump = tmp_path / "exp", tmp_path / "dump"
    dump.mkdir()
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER)
    init = tmp_path / "dist_init"  # shared-file init, as espnet2.bin.launch uses off-node
    common = [
        "--output_dir", str(out), *TINY,
        "--train_data_path_and_name_and_type", f"{data}/wav.scp,speech,sound",
        "--train_data_path_and_name_and_type", f"{data}/espnet_rttm,spk_labels,rttm",
        "--valid_data_path_and_name_and_type", f"{data}/wav.scp,speech,sound",
        "--valid_data_path_and_name_and_type", f"{data}/espnet_rttm,spk_labels,rttm",
        "--train_shape_file", f"{data}/speech_shape",
        "--valid_shape_file", f"{data}/speech_shape",
        "--batch_type", "unsorted", "--batch_size", "2", "--max_epoch", "1",
        "--num_workers", "0", "--num_att_plot", "0", "--seed", "0",
        "--optim", "adam", "--optim_conf", "lr=0.01",
        "--ngpu", "0", "--multiprocessing_distributed", "false",
        "--dist_backend", "gloo", "--dist_init_method", f"file://{init}",
        "--dist_world_size", str(WORLD),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("RANK", None), env.pop("WORLD_SIZE", None), env.pop("LOCAL_RANK", None)
    procs = []
    for rank in range(WORLD):
        log = open(tmp_path / f"rank{rank}.log", "w")
        procs.append(subprocess.Popen(
            [sys.executable, str(runner), str(dump), str(rank), *common,
             "--dist_rank", str(rank)],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path))
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout=150))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
    logs = [(tmp_path / f"rank{r}.log").read_text() for r in range(WORLD)]
    assert codes == [0] * WORLD, "\n\n".join(l[-3000:] for l in logs)

    # rank 0 logs as rank 0 of a 2-process world (ESPnet's "[host:0/2]" prefix) and ran
    # the epoch's 2 steps
    assert re.search(rf":0/{WORLD}\] .*1epoch results: \[train\] .*total_count=2,", logs[0]), \
        logs[0][-3000:]
    ckpt = out / "1epoch.pth"
    assert ckpt.exists() and (out / "valid.loss.best.pth").exists()
    init0, init1 = (torch.load(dump / f"rank{r}_init.pth") for r in range(WORLD))
    final = [torch.load(dump / f"rank{r}_final.pth") for r in range(WORLD)]
    assert final[0].keys() == final[1].keys() == init0.keys()
    for key in final[0]:
        assert torch.equal(final[0][key], final[1][key]), f"ranks diverged at {key}"
    changed = [k for k in init0 if not torch.equal(init0[k], final[0][k])]
    assert changed, "no parameter moved: the steps did not run"
    saved = torch.load(ckpt)
    for key in final[0]:
        assert torch.equal(saved[key], final[0][key]), key


# A stand-in for Kaldi's slurm.pl + srun on one machine: espnet2.bin.launch runs
# `slurm.pl --gpu G --num_threads T --num_nodes N LOG srun --export=ALL CMD...`; this
# starts N copies of CMD as the N tasks of one step (the SLURM_* variables ESPnet's
# distributed_utils reads: one task per node), each writing LOG.<task>, and LOG.
FAKE_SLURM = """#!/usr/bin/env bash
nodes=1
while [[ "$1" == --* ]]; do
    [ "$1" = --num_nodes ] && nodes=$2
    shift 2
done
log=$1; shift
[ "$1" = srun ] || { echo "expected srun, got $1" >&2; exit 1; }
shift; [ "$1" = --export=ALL ] && shift
pids=()
for ((i = 0; i < nodes; i++)); do
    SLURM_PROCID=$i SLURM_NTASKS=$nodes SLURM_STEP_NUM_NODES=$nodes SLURM_NODEID=$i \\
    SLURM_LOCALID=0 SLURM_STEP_NODELIST=localhost "$@" > "$log.$i" 2>&1 &
    pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
cat "$log".* > "$log"
exit $rc
"""

CONFIG = """\
# every head of train_echo.yaml, tiny: DDP needs each rank's loss to reach every
# parameter (or --unused_parameters true)
frontend_conf: {fs: 8000, n_fft: 128, hop_length: 64, n_mels: 16}
encoder: echo_vit
encoder_conf: {output_size: 32, num_blocks: 2, attention_heads: 2, linear_units: 32}
diar_head: eend
sep_head: tasnet
sep_head_conf: {enc_channels: 16, tcn_hidden: 32, tcn_bottleneck: 16, tcn_layers: 2,
                tcn_stacks: 1}
asr_head: multispkr
asr_head_conf: {linear_units: 32, attention_heads: 2}
spk_head: arcface
spk_head_conf: {hidden_size: 16, embed_dim: 8, window_s: 0.25, min_solo_frames: 2}
optim: adam
optim_conf: {lr: 0.01}
batch_type: unsorted
batch_size: 2
max_epoch: 1
num_workers: 0
num_att_plot: 0
"""


def _recipe(root: Path) -> Path:
    """A recipe dir holding what echo.sh's stage 6 reads: dump/raw/{train,dev}, the
    token list and exp/stats_fbank (speech_shape, feats_stats.npz)."""
    main = Path(__file__).resolve().parents[3]
    for name in ("echo.sh", "path.sh", "utils"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).symlink_to(main / "egs2/TEMPLATE/echo1" / name)
    for dset in ("train", "dev"):
        d = _data(root / "dump/raw" / dset)
        utts = [line.split()[0] for line in (d / "wav.scp").read_text().splitlines()]
        wavs = dict(line.split() for line in (d / "wav.scp").read_text().splitlines())
        (d / "speech_ref.scp").write_text("".join(f"{u} {wavs[u]} {wavs[u]}\n" for u in utts))
        (d / "utt2num_spk").write_text("".join(f"{u} 2\n" for u in utts))
        for n in (1, 2):
            (d / f"text_spk{n}").write_text("".join(f"{u} A B\n" for u in utts))
        (d / "spk_ids").write_text("".join(f"{u} {2 * i} {2 * i + 1}\n"
                                           for i, u in enumerate(utts)))
        stats = root / "exp/stats_fbank" / ("train" if dset == "train" else "valid")
        stats.mkdir(parents=True)
        (stats / "speech_shape").write_text((d / "speech_shape").read_text())
    np.savez(root / "exp/stats_fbank/train/feats_stats.npz", count=np.array(100),
             sum=np.zeros(16), sum_square=np.full(16, 100.0))
    tokens = root / "data/token_list/char"
    tokens.mkdir(parents=True)
    (tokens / "tokens.txt").write_text("<blank>\n<unk>\nA\nB\n<space>\n<sos/eos>\n")
    (root / "data/spk_list").mkdir(parents=True)
    (root / "data/spk_list/spk_list.txt").write_text("".join(f"s{i}\n" for i in range(8)))
    (root / "conf").mkdir()
    (root / "conf/tiny.yaml").write_text(CONFIG)
    return root


def test_echo_sh_stage6_two_nodes_through_espnet_launch(tmp_path):
    """echo.sh --dist_launcher slurm --num_nodes 2 --ngpu 0: stage 6 goes through
    espnet2.bin.launch (slurm branch: srun, --dist_launcher slurm, shared-file init,
    gloo for --ngpu 0) into `python -m espnet_echo.bin.echo_train`, 2 CPU ranks, a
    model with all four heads (EEND, TasNet, multi-speaker ASR, ArcFace)."""
    recipe = _recipe(tmp_path / "recipe")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "slurm.pl").write_text(FAKE_SLURM)
    (bin_dir / "slurm.pl").chmod(0o755)
    env = dict(os.environ, OMP_NUM_THREADS="1", PATH=f"{bin_dir}:{os.environ['PATH']}")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    env.update(VIRTUAL_ENV=str(Path(sys.executable).parent.parent))
    proc = subprocess.run(
        ["./echo.sh", "--stage", "6", "--stop_stage", "6", "--num_spk", "2",
         "--token_type", "char", "--train_configs", "conf/tiny.yaml",
         "--python", sys.executable, "--ngpu", "0", "--num_nodes", "2",
         "--dist_launcher", "slurm"],
        cwd=recipe, env=env, capture_output=True, text=True, timeout=200)
    exp = recipe / "exp/echo_tiny"
    logs = {p.name: p.read_text() for p in (exp / "log").glob("*")}
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-2000:],
                                  {k: v[-3000:] for k, v in logs.items()})
    launch = logs["launch.log"]
    assert "2nodes and 0gpu-per-node using srun" in launch, launch
    assert set(logs) >= {"train.log.0", "train.log.1"}
    # each task ran echo_train as rank <task> of 2, through the slurm variables
    for rank in (0, 1):
        cmdline = logs[f"train.log.{rank}"].splitlines()
        cmd = next(x for x in cmdline if "espnet_echo/bin/echo_train.py" in x)
        assert "--dist_launcher slurm" in cmd and "--dist_backend gloo" in cmd, cmd
        assert "--multiprocessing_distributed true" in cmd and "file://" in cmd, cmd
    assert re.search(r":0/2\] .*1epoch results: \[train\] .*total_count=2,", logs["train.log.0"])
    assert (exp / "1epoch.pth").exists() and (exp / "valid.loss.best.pth").exists()


@pytest.mark.parametrize("name, encoder", [("train_echo25m_gpu.yaml", "echo_25m.yaml"),
                                           ("train_ume_ebf25m_gpu.yaml", "ebf_25m.yaml")])
def test_gpu_configs_are_the_shared_encoders_with_train_echo_heads(name, encoder):
    import yaml

    main = Path(__file__).resolve().parents[3]
    conf = main / "egs2/mini_mix/echo1/conf"
    gpu = yaml.safe_load((conf / "tuning" / name).read_text())
    enc = yaml.safe_load((main / "conf/encoder" / encoder).read_text())
    base = yaml.safe_load((conf / "train_echo.yaml").read_text())
    assert gpu["encoder"] == enc["encoder"] and gpu["encoder_conf"] == enc["encoder_conf"]
    for key in ("frontend", "frontend_conf", "model_conf", *(
            f"{h}_head{c}" for h in ("diar", "sep", "asr", "spk") for c in ("", "_conf"))):
        assert gpu[key] == base[key], key
    assert gpu["batch_type"] == "numel" and gpu["use_amp"] is True
    assert gpu["batch_bins"] * gpu["accum_grad"] == 12_800_000  # 800 s of 16 kHz audio
    text = (conf / "tuning" / name).read_text()
    assert "Libri2Mix train-360" in text and "s/epoch" in text  # the estimate's table

"""EchoTask with the speaker head (``--spk_head arcface --spk_list``)."""

import pytest
import torch
import yaml

from espnet_echo.heads.spk_arcface import ArcFaceSpkHead
from espnet_echo.tasks.echo import EchoTask

TINY = [
    "--frontend_conf", "n_fft=128", "--frontend_conf", "hop_length=64",
    "--frontend_conf", "n_mels=16",
    "--encoder", "echo_vit", "--encoder_conf", "output_size=32",
    "--encoder_conf", "num_blocks=2", "--encoder_conf", "attention_heads=2",
    "--encoder_conf", "linear_units=32",
    "--spk_head_conf", "hidden_size=16", "--spk_head_conf", "embed_dim=8",
    "--spk_head_conf", "window_s=0.5", "--spk_head_conf", "min_solo_frames=2",
]
DIAR_SPK = ["--sep_head", "none", "--asr_head", "none", "--spk_head", "arcface", *TINY]


@pytest.fixture
def spk_list(tmp_path):
    path = tmp_path / "spk_list.txt"
    path.write_text("alice\nbob\ncarol\n")
    return str(path)


def test_spk_head_is_off_by_default():
    args = EchoTask.get_parser().parse_args([])
    assert args.spk_head is None and args.spk_list is None
    assert args.model_conf["spk_weight"] == 0.33


def test_diar_spk_model_builds_from_argv_and_trains_one_step(spk_list):
    args = EchoTask.get_parser().parse_args(["--spk_list", spk_list, *DIAR_SPK])
    model = EchoTask.build_model(args)
    assert list(model.heads) == ["diar", "spk"]
    head = model.heads["spk"]
    assert isinstance(head, ArcFaceSpkHead) and head.num_train_speakers == 3
    assert head.frame_shift_s == pytest.approx(64 * 4 / 16000)  # hop x subsampling / fs
    assert head.window_frames == 31 and head.embed_dim == 8
    assert args.spk_list == ["alice", "bob", "carol"]  # inlined: the config is portable
    torch.manual_seed(0)
    n = 8000
    labels = torch.zeros(2, n, 2)
    labels[0, :5000, 0] = 1
    labels[0, 3000:, 1] = 1
    labels[1, :, 0] = 1
    batch = dict(
        speech=torch.randn(2, n) * 0.1, speech_lengths=torch.tensor([n, n - 1000]),
        spk_labels=labels, spk_labels_lengths=torch.tensor([n, n]),
        spk_ids=torch.tensor([[2, 0], [1, -1]]), spk_ids_lengths=torch.tensor([2, 1]),
    )
    loss, stats, weight = model(**batch)
    loss.backward()
    assert torch.isfinite(loss) and "loss_spk" in stats and "loss_diar" in stats
    assert stats["spk_num_windows"] == 3
    assert torch.allclose(loss, 0.33 * (stats["loss_diar"] + stats["loss_spk"]), rtol=1e-4)


def test_spk_model_from_a_config_dict(tmp_path, spk_list):
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({
        "diar_head": None, "sep_head": None, "asr_head": None, "spk_head": "arcface",
        "spk_list": spk_list, "model_conf": {"spk_weight": 1.0},
        "spk_head_conf": {"hidden_size": 16, "embed_dim": 8, "margin": 0.3},
    }))
    out = tmp_path / "exp"
    EchoTask.main(cmd=["--config", str(config), "--dry_run", "true", "--output_dir",
                       str(out), *TINY[:-8]])
    conf = yaml.safe_load((out / "config.yaml").read_text())
    assert conf["spk_list"] == ["alice", "bob", "carol"] and conf["spk_head"] == "arcface"
    model, _ = EchoTask.build_model_from_file(out / "config.yaml", None, "cpu")
    assert list(model.heads) == ["spk"] and model.weights["spk"] == 1.0
    assert model.heads["spk"].num_train_speakers == 3


@pytest.mark.parametrize(
    "content, match",
    [
        (None, r"spk_list.txt: speaker list not found"),
        ("", r"spk_list.txt: the speaker list is empty"),
        ("a\nb\na\n", r"spk_list.txt:3: speaker 'a' repeated \(first on line 1\)"),
        ("a\n\nb\n", r"spk_list.txt:2: empty line"),
    ],
)
def test_bad_spk_list_names_the_file(tmp_path, content, match):
    path = tmp_path / "spk_list.txt"
    if content is not None:
        path.write_text(content)
    args = EchoTask.get_parser().parse_args(["--spk_list", str(path), *DIAR_SPK])
    with pytest.raises(ValueError, match=match):
        EchoTask.build_model(args)


def test_spk_head_without_spk_list_is_an_error():
    args = EchoTask.get_parser().parse_args(DIAR_SPK)
    with pytest.raises(ValueError, match=r"--spk_head needs --spk_list \(python -m "
                                         r"espnet_echo.bin.make_spk_ids writes it\)"):
        EchoTask.build_model(args)


def test_data_check_asks_for_spk_ids(tmp_path, spk_list):
    wav = tmp_path / "wav.scp"
    wav.write_text("u1 a.wav\n")
    with pytest.raises(ValueError, match=r"--spk_head arcface needs the data names "
                                         r"\['spk_ids'\]"):
        EchoTask.main(cmd=[
            "--output_dir", str(tmp_path / "o"), "--spk_list", spk_list,
            "--train_data_path_and_name_and_type", f"{wav},speech,sound",
            "--train_data_path_and_name_and_type", f"{wav},spk_labels,rttm",
            "--valid_data_path_and_name_and_type", f"{wav},speech,sound",
            "--train_shape_file", str(wav), "--valid_shape_file", str(wav), *DIAR_SPK,
        ])
    assert "spk_ids" in EchoTask.optional_data_names()


def test_spk_ids_collate_to_minus_one_padded_rows(tmp_path, spk_list):
    """spk_ids files (text_int) go through EchoTask's reader and collate as (B, K)."""
    from espnet2.train.dataset import ESPnetDataset

    ids = tmp_path / "spk_ids"
    ids.write_text("u1 2 0\nu2 1\n")
    dataset = ESPnetDataset([(str(ids), "spk_ids", "text_int")])
    args = EchoTask.get_parser().parse_args(["--spk_list", spk_list, *DIAR_SPK])
    collate = EchoTask.build_collate_fn(args, train=True)
    _, batch = collate([dataset["u1"], dataset["u2"]])
    assert batch["spk_ids"].tolist() == [[2, 0], [1, -1]]


def test_config_from_before_speaker_heads_still_builds(tmp_path):
    """A config.yaml written before the spk slot existed has no spk_* keys: head off."""
    out = tmp_path / "exp"
    EchoTask.main(cmd=["--sep_head", "none", "--asr_head", "none", "--dry_run", "true",
                       "--output_dir", str(out), *TINY[:-8]])
    conf = yaml.safe_load((out / "config.yaml").read_text())
    for key in ("spk_head", "spk_head_conf", "spk_list"):
        conf.pop(key)
    conf["model_conf"].pop("spk_weight")
    old = tmp_path / "old.yaml"
    old.write_text(yaml.safe_dump(conf))
    model, _ = EchoTask.build_model_from_file(old, None, "cpu")
    assert list(model.heads) == ["diar"]


def test_speaker_head_trains_alone_through_espnets_trainer(tmp_path, spk_list, caplog):
    """Only the speaker head (no diarization/separation/ASR), EchoTask.main -> Trainer:
    the AAM-softmax loss over the 3 training speakers falls and accuracy rises."""
    import logging
    import re

    import numpy as np
    import soundfile as sf

    fs, n = 16000, 16000
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    (data / "wav").mkdir(parents=True)
    wav, rttm, ids, shape = [], [], [], []
    t = np.arange(n) / fs
    for i in range(9):  # one speaker per utterance; a speaker = a pitch + its harmonics
        spk = i % 3
        f0 = (140.0, 260.0, 480.0)[spk] * (1 + 0.03 * rng.standard_normal())
        x = sum(np.sin(2 * np.pi * h * f0 * t) / h for h in (1, 2, 3))
        x = (0.1 * x + 0.01 * rng.standard_normal(n)).astype(np.float32)
        utt = f"utt{i:02d}"
        sf.write(data / "wav" / f"{utt}.wav", x, fs)
        wav.append(f"{utt} {data / 'wav' / f'{utt}.wav'}")
        rttm += [f"SPEAKER {utt} 1 0 {n} <NA> <NA> s{spk} <NA>",
                 f"END {utt} <NA> <NA> {n} <NA> <NA> <NA> <NA>"]
        ids.append(f"{utt} {spk}")
        shape.append(f"{utt} {n}")
    for name, lines in (("wav.scp", wav), ("espnet_rttm", rttm), ("spk_ids", ids),
                        ("speech_shape", shape)):
        (data / name).write_text("\n".join(lines) + "\n")
    triples = []
    for kind in ("train", "valid"):
        triples += [
            f"--{kind}_data_path_and_name_and_type", f"{data}/wav.scp,speech,sound",
            f"--{kind}_data_path_and_name_and_type", f"{data}/espnet_rttm,spk_labels,rttm",
            f"--{kind}_data_path_and_name_and_type", f"{data}/spk_ids,spk_ids,text_int",
            f"--{kind}_shape_file", f"{data}/speech_shape",
        ]
    out = tmp_path / "exp"
    caplog.set_level(logging.INFO)  # the trainer reports each epoch through logging
    EchoTask.main(cmd=[
        "--diar_head", "none", "--sep_head", "none", "--asr_head", "none",
        "--spk_head", "arcface", "--spk_list", spk_list, *TINY, *triples,
        "--output_dir", str(out), "--batch_type", "unsorted", "--batch_size", "4",
        "--max_epoch", "6", "--num_workers", "0", "--num_att_plot", "0", "--seed", "0",
        "--optim", "adam", "--optim_conf", "lr=0.003", "--ngpu", "0",
        "--model_conf", "spk_weight=1.0",
    ])
    log = "\n".join(r.getMessage() for r in caplog.records)
    losses = [float(x) for x in re.findall(r"\[train\].*?loss_spk=([-\d.e+]+)", log)]
    accs = [float(x) for x in re.findall(r"\[train\].*?spk_acc=([-\d.e+]+)", log)]
    assert (out / "6epoch.pth").is_file()
    assert len(losses) == 6 and losses[-1] < 0.7 * losses[0], losses
    assert accs[-1] > accs[0], accs

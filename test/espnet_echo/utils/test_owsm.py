# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of espnet_echo.utils.owsm on a tiny OWSM-like S2T model (and through its CLI)."""

import contextlib
import logging
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from espnet2.main_funcs.pack_funcs import pack
from espnet2.tasks.s2t import S2TTask
from espnet2.torch_utils.load_pretrained_model import load_pretrained_model

from espnet_echo.bin.extract_owsm_encoder import main
from espnet_echo.tasks.echo import EchoTask
from espnet_echo.utils.archive import UnsafeArchiveError
from espnet_echo.utils.owsm import ExtractError, check_echo_compatible, extract_owsm_encoder

# Special tokens ESPnetS2TModel looks up (<blank>, <sos>, <eos>, <sop>, <na>) plus the ones
# OWSM token lists carry, then a few characters.
TOKENS = ["<blank>", "<unk>", "<na>", "<nolang>", "<notimestamps>", "<sos>", "<eos>",
          "<sop>", "<sos/eos>", "a", "b", "c", "<space>"]
N_MELS = 16
# OWSM v3.1 layout (conf/encoder/owsm_v3.1_medium.yaml), shrunk.
ENCODER_CONF = dict(
    output_size=16, attention_heads=2, attention_layer_type="selfattn",
    pos_enc_layer_type="abs_pos", rel_pos_type="latest", cgmlp_linear_units=32,
    cgmlp_conv_kernel=3, use_linear_after_conv=False, gate_activation="identity",
    num_blocks=2, input_layer="conv2d", linear_units=32, positionwise_layer_type="linear",
    use_ffn=True, macaron_ffn=True, merge_conv_kernel=3, use_flash_attn=False,
)


def _conf_args(name, conf):
    out = []
    for key, value in conf.items():
        value = str(value).lower() if isinstance(value, bool) else value
        out += [f"--{name}", f"{key}={value}"]
    return out


@pytest.fixture(scope="module")
def owsm(tmp_path_factory):
    """A tiny OWSM-like S2T exp dir (config.yaml, model.pth, stats) and its packed zip."""
    root = tmp_path_factory.mktemp("owsm")
    (root / "tokens.txt").write_text("\n".join(TOKENS) + "\n")
    rng = np.random.default_rng(0)
    mean, std = rng.normal(size=N_MELS), rng.uniform(0.5, 2.0, size=N_MELS)
    (root / "stats").mkdir()
    np.savez(root / "stats" / "feats_stats.npz", count=np.array(50),
             sum=50 * mean, sum_square=50 * (std**2 + mean**2))
    with contextlib.chdir(root):  # relative paths, as in a recipe dir
        S2TTask.main(cmd=[
            "--dry_run", "true", "--output_dir", "exp/s2t", "--token_list", "tokens.txt",
            "--frontend_conf", "n_fft=128", "--frontend_conf", "hop_length=64",
            "--frontend_conf", f"n_mels={N_MELS}",
            "--normalize", "global_mvn",
            "--normalize_conf", "stats_file=stats/feats_stats.npz",
            "--encoder", "e_branchformer", *_conf_args("encoder_conf", ENCODER_CONF),
            "--decoder", "transformer", "--decoder_conf", "attention_heads=2",
            "--decoder_conf", "linear_units=16", "--decoder_conf", "num_blocks=1",
        ])
        model, _ = S2TTask.build_model_from_file("exp/s2t/config.yaml", None, "cpu")
        gen = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=gen))
        torch.save(model.state_dict(), "exp/s2t/model.pth")
        pack(files={"s2t_model_file": "exp/s2t/model.pth"},
             yaml_files={"s2t_train_config": "exp/s2t/config.yaml"},
             option=["stats/feats_stats.npz"], outpath="owsm.zip")
    return SimpleNamespace(
        root=root, config=root / "exp/s2t/config.yaml", model_file=root / "exp/s2t/model.pth",
        zip=root / "owsm.zip", stats=root / "stats/feats_stats.npz",
        state=model.state_dict(),
    )


@pytest.mark.parametrize("source", ["exp_dir", "packed"])
def test_extracted_encoder_initialises_echo(owsm, tmp_path, monkeypatch, source):
    monkeypatch.chdir(tmp_path)  # not the recipe dir: stats are found next to the exp dir
    outdir = tmp_path / "owsm_init"
    if source == "exp_dir":
        main(["--s2t_train_config", str(owsm.config), "--s2t_model_file",
              str(owsm.model_file), "--outdir", str(outdir)])
    else:
        main(["--packed_model", str(owsm.zip), "--outdir", str(outdir)])

    state = torch.load(outdir / "encoder.pth", weights_only=True)
    enc_keys = {k for k in owsm.state if k.startswith("encoder.")}
    assert set(state) == enc_keys  # the default frontend has no parameters
    for key in enc_keys:
        assert torch.equal(state[key], owsm.state[key]), key
    assert (outdir / "feats_stats.npz").read_bytes() == owsm.stats.read_bytes()
    conf = yaml.safe_load((outdir / "encoder_conf.yaml").read_text())
    assert conf["encoder"] == "e_branchformer"
    assert conf["encoder_conf"] == ENCODER_CONF
    assert conf["frontend_conf"]["n_mels"] == N_MELS
    assert conf["normalize"] == "global_mvn"
    assert conf["normalize_conf"]["stats_file"] == str(outdir / "feats_stats.npz")
    assert f"--init_param {outdir}/encoder.pth:encoder:encoder" in (
        outdir / "encoder_conf.yaml").read_text()

    # The conf is usable as-is by EchoTask, and --init_param loads the weights.
    exp = tmp_path / "echo"
    EchoTask.main(cmd=["--dry_run", "true", "--output_dir", str(exp),
                       "--config", str(outdir / "encoder_conf.yaml"),
                       "--asr_head", "none", "--sep_head", "none"])
    echo, _ = EchoTask.build_model_from_file(exp / "config.yaml", None, "cpu")
    echo_state = echo.encoder.state_dict()
    assert set(echo_state) == {k[len("encoder."):] for k in enc_keys}
    assert not torch.equal(echo_state["embed.conv.0.weight"],
                           owsm.state["encoder.embed.conv.0.weight"])
    load_pretrained_model(init_param=f"{outdir}/encoder.pth:encoder:encoder", model=echo,
                          ignore_init_mismatch=False, map_location="cpu")
    for key, value in echo.encoder.state_dict().items():
        assert torch.equal(value, owsm.state[f"encoder.{key}"]), key
    for key in ("mean", "std"):
        assert torch.allclose(echo.normalize.state_dict()[key],
                              owsm.state[f"normalize.{key}"])


def _bad_checkpoint(owsm, tmp_path, edit):
    state = dict(owsm.state)
    edit(state)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    return path


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda s: s.pop("encoder.after_norm.weight"),
         r"missing: encoder\.after_norm\.weight"),
        (lambda s: s.update({"encoder.extra.weight": torch.zeros(2)}),
         r"unexpected: encoder\.extra\.weight"),
        (lambda s: s.update({"encoder.after_norm.bias": torch.zeros(8)}),
         r"shape mismatch .*encoder\.after_norm\.bias \(8,\) != \(16,\)"),
        (lambda s: [s.pop(k) for k in list(s) if k.startswith("encoder.")],
         r"no 'encoder\.\*' entries"),
    ],
    ids=["missing", "unexpected", "shape", "no_encoder"],
)
def test_mismatched_checkpoint_is_an_error(owsm, tmp_path, edit, match):
    bad = _bad_checkpoint(owsm, tmp_path, edit)
    outdir = tmp_path / "out"
    with pytest.raises(ExtractError, match=match):
        extract_owsm_encoder(outdir, s2t_train_config=owsm.config, s2t_model_file=bad)
    assert not outdir.exists()  # nothing written
    with pytest.raises(SystemExit, match=f"extract_owsm_encoder: error: .*{match}"):
        main(["--s2t_train_config", str(owsm.config), "--s2t_model_file", str(bad),
              "--outdir", str(outdir)])


def test_mismatch_outside_encoder_only_warns(owsm, tmp_path, caplog):
    bad = _bad_checkpoint(owsm, tmp_path, lambda s: s.pop("ctc.ctc_lo.bias"))
    with caplog.at_level(logging.WARNING):
        written = extract_owsm_encoder(tmp_path / "out", s2t_train_config=owsm.config,
                                       s2t_model_file=bad)
    assert written["encoder"].is_file()
    assert "missing: ctc.ctc_lo.bias" in caplog.text


def test_wrong_stats_file_is_an_error(owsm, tmp_path):
    other = tmp_path / "other_stats.npz"
    np.savez(other, count=np.array(1), sum=np.zeros(N_MELS), sum_square=np.ones(N_MELS))
    with pytest.raises(ExtractError, match="normalize.mean different"):
        extract_owsm_encoder(tmp_path / "out", s2t_model_file=owsm.model_file,
                             stats_file=other)  # config.yaml next to the model file


def test_missing_inputs(owsm, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth: S2T model file not found"):
        extract_owsm_encoder(tmp_path / "o", s2t_train_config=owsm.config,
                             s2t_model_file=tmp_path / "nope.pth")
    with pytest.raises(FileNotFoundError, match="packed model not found"):
        extract_owsm_encoder(tmp_path / "o", packed_model=tmp_path / "nope.zip")
    with pytest.raises(SystemExit):  # exactly one of the two sources
        main(["--packed_model", str(owsm.zip), "--s2t_model_file", str(owsm.model_file),
              "--outdir", str(tmp_path / "o")])


def test_encoder_echo_cannot_build_is_an_error(owsm, tmp_path, caplog):
    cfg = yaml.safe_load(owsm.config.read_text())
    bad = tmp_path / "config.yaml"
    bad.write_text(yaml.safe_dump(dict(cfg, encoder="whisper")))
    with pytest.raises(ExtractError, match="encoder='whisper' cannot be built by EchoTask"):
        extract_owsm_encoder(tmp_path / "o", s2t_train_config=bad,
                             s2t_model_file=owsm.model_file)
    with caplog.at_level(logging.WARNING):
        check_echo_compatible(dict(cfg, encoder="conformer"), bad)
    assert "not the OWSM v3.1 / UME baseline layout" in caplog.text


def test_traversal_zip_is_rejected(tmp_path):
    evil = tmp_path / "pkg" / "evil.zip"
    evil.parent.mkdir()
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("meta.yaml", yaml.safe_dump(
            {"files": {"s2t_model_file": "../m.pth"},
             "yaml_files": {"s2t_train_config": "c.yaml"}}))
        zf.writestr("../m.pth", b"x")
    outdir = tmp_path / "pkg" / "out"
    with pytest.raises(UnsafeArchiveError, match=r"'\.\./m\.pth' would unpack outside"):
        extract_owsm_encoder(outdir, packed_model=evil)
    assert not outdir.exists() and not (tmp_path / "pkg" / "m.pth").exists()
    with pytest.raises(SystemExit, match="would unpack outside"):
        main(["--packed_model", str(evil), "--outdir", str(outdir)])


def test_meta_yaml_pointing_outside_is_rejected(owsm, tmp_path):
    pkg = tmp_path / "abs.zip"
    with zipfile.ZipFile(pkg, "w") as zf:
        zf.writestr("meta.yaml", yaml.safe_dump(
            {"files": {"s2t_model_file": str(owsm.model_file)},
             "yaml_files": {"s2t_train_config": str(owsm.config)}}))
    with pytest.raises(ExtractError, match="outside the unpack dir"):
        extract_owsm_encoder(tmp_path / "out", packed_model=pkg)

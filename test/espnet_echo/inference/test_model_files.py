import hashlib
import os
import zipfile

import numpy as np
import pytest
import torch
import yaml

from espnet_echo.inference.model_files import (
    locate_model,
    pack_model,
    resolved_train_config,
)
from espnet_echo.inference.speech2echo import Speech2Echo
from espnet_echo.tasks.echo import EchoTask
from espnet_echo.utils.archive import UnsafeArchiveError

N_MELS = 16
# the smallest model with a head (separation only): EchoTask's tiny settings
TINY = [
    "--frontend_conf", "n_fft=512", "--frontend_conf", "win_length=400",
    "--frontend_conf", "hop_length=160", "--frontend_conf", f"n_mels={N_MELS}",
    "--encoder_conf", "output_size=32", "--encoder_conf", "num_blocks=1",
    "--encoder_conf", "attention_heads=2", "--encoder_conf", "linear_units=32",
    "--asr_head", "none", "--diar_head", "none",
    "--sep_head_conf", "enc_channels=16", "--sep_head_conf", "tcn_hidden=32",
    "--sep_head_conf", "tcn_bottleneck=16", "--sep_head_conf", "tcn_layers=2",
    "--sep_head_conf", "tcn_stacks=1",
    "--token_type", "char",
]
STATS = "exp/stats_fbank/train/feats_stats.npz"


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    """A recipe dir with a trained tiny model: exp/tiny/{config.yaml,valid.loss.best.pth},
    whose config names its statistics relative to the recipe dir."""
    root = tmp_path_factory.mktemp("recipe")
    stats = root / STATS
    stats.parent.mkdir(parents=True)
    rng = np.random.RandomState(0)
    np.savez(stats, count=np.array(100.0), sum=rng.randn(N_MELS) * 100,
             sum_square=np.full(N_MELS, 400.0))
    tokens = root / "data/token_list/char/tokens.txt"
    tokens.parent.mkdir(parents=True)
    tokens.write_text("\n".join(["<blank>", "<unk>", "<space>", "A", "<sos/eos>"]) + "\n")
    old = os.getcwd()
    os.chdir(root)
    try:
        EchoTask.main(cmd=["--dry_run", "true", "--output_dir", "exp/tiny",
                           "--token_list", "data/token_list/char/tokens.txt",
                           "--normalize", "global_mvn",
                           "--normalize_conf", f"stats_file={STATS}", *TINY])
        model, _ = EchoTask.build_model_from_file("exp/tiny/config.yaml", None, "cpu")
    finally:
        os.chdir(old)
    torch.manual_seed(0)
    for p in model.parameters():
        p.data.normal_()
    torch.save(model.state_dict(), root / "exp/tiny/valid.loss.best.pth")
    (root / "RESULTS.md").write_text(
        "# RESULTS\n## Environments\n- date: `today`\n\n## Scores\n- note on DER\n\n"
        "|system|DER (%)|\n|---|---|\n|oracle/test|0.00|\n|tiny/test|12.34|\n"
        "|tiny+vbx/test|23.45|\n|tiny_other/test|99.00|\n"
    )
    return root


def _state(train_config, model_file):
    with resolved_train_config(train_config) as config:
        model, _ = EchoTask.build_model_from_file(config, model_file, "cpu")
    return model.state_dict()


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_model_runs_from_another_cwd(recipe, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = recipe / "exp/tiny/config.yaml"
    with pytest.raises(FileNotFoundError):  # what resolving fixes
        EchoTask.build_model_from_file(config, None, "cpu")
    with resolved_train_config(config) as resolved:
        assert resolved != config
        stats = yaml.safe_load(resolved.read_text())["normalize_conf"]["stats_file"]
        assert stats == str((recipe / STATS).resolve())
        model, _ = EchoTask.build_model_from_file(
            resolved, recipe / "exp/tiny/valid.loss.best.pth", "cpu")
    assert not resolved.exists()  # the temporary copy is gone
    want = torch.load(recipe / "exp/tiny/valid.loss.best.pth", weights_only=True)
    assert _same(model.state_dict(), want)
    out = model.infer(torch.randn(1, 8000), torch.tensor([8000]))
    assert set(out) == {"sep"}


def test_from_the_recipe_dir_the_config_is_used_as_is(recipe, monkeypatch):
    monkeypatch.chdir(recipe)
    with resolved_train_config("exp/tiny/config.yaml") as resolved:
        assert resolved == recipe.joinpath("exp/tiny/config.yaml").relative_to(recipe)


def test_files_next_to_the_model_win_over_the_cwd(recipe, tmp_path, monkeypatch):
    decoy = tmp_path / STATS
    decoy.parent.mkdir(parents=True)
    decoy.write_bytes(b"another recipe's statistics")
    monkeypatch.chdir(tmp_path)
    with resolved_train_config(recipe / "exp/tiny/config.yaml") as resolved:
        stats = yaml.safe_load(resolved.read_text())["normalize_conf"]["stats_file"]
    assert stats == str((recipe / STATS).resolve())


def _config_with(recipe, tmp_path, **changes):
    config = yaml.safe_load((recipe / "exp/tiny/config.yaml").read_text())
    config.update(changes)
    out = tmp_path / "exp" / "m" / "config.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(config))
    return out


def test_a_missing_file_names_the_config_the_key_and_every_place(recipe, tmp_path,
                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = _config_with(recipe, tmp_path, bpemodel="data/bpe/bpe.model")
    with pytest.raises(ValueError) as e:
        with resolved_train_config(config):
            pass
    msg = str(e.value)
    assert str(config) in msg and "bpemodel" in msg and "\n" not in msg
    for place in (tmp_path / "exp/m", tmp_path / "exp", tmp_path, tmp_path.parent):
        assert str(place / "data/bpe/bpe.model") in msg


def test_bpemodel_and_a_missing_init_param_resolve(recipe, tmp_path, monkeypatch):
    (tmp_path / "data/bpe").mkdir(parents=True)
    (tmp_path / "data/bpe/bpe.model").write_bytes(b"bpe")
    config = _config_with(recipe, tmp_path, bpemodel="data/bpe/bpe.model",
                          init_param=["exp/gone/latest.pth:encoder:encoder"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with pytest.raises(ValueError, match="stats_file"):  # the stats are in the recipe
        with resolved_train_config(config):
            pass
    (tmp_path / STATS).parent.mkdir(parents=True)
    (tmp_path / STATS).write_bytes(b"x")
    with resolved_train_config(config) as resolved:
        got = yaml.safe_load(resolved.read_text())
    assert got["bpemodel"] == str(tmp_path / "data/bpe/bpe.model")
    assert got["init_param"] == ["exp/gone/latest.pth:encoder:encoder"]  # training only


def _touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_locate_an_exp_dir_picks_the_checkpoint(tmp_path):
    d = tmp_path / "exp/m"
    _touch(d / "config.yaml", b"{}")
    with pytest.raises(ValueError, match=f"{d}: no checkpoint"):
        locate_model(d)
    _touch(d / "latest.pth")
    assert locate_model(d).model_file == d / "latest.pth"
    _touch(d / "valid.acc.best.pth")
    assert locate_model(d).model_file == d / "valid.acc.best.pth"
    _touch(d / "valid.loss.best.pth")
    found = locate_model(d)
    assert (found.model_file, found.plda_file, found.root) == (d / "valid.loss.best.pth",
                                                               None, d)
    _touch(d / "plda.npz")
    assert locate_model(d).plda_file == d / "plda.npz"


def test_locate_errors_name_the_path(tmp_path):
    with pytest.raises(ValueError, match=f"{tmp_path / 'nope'}: no such model"):
        locate_model(tmp_path / "nope")
    with pytest.raises(ValueError, match=f"{tmp_path}: no config.yaml"):
        locate_model(tmp_path)
    text = _touch(tmp_path / "model.txt")
    with pytest.raises(ValueError, match="not a zip"):
        locate_model(text, cache_dir=tmp_path / "cache")


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_zips_without_the_keys_unsafe_or_corrupted_are_refused(tmp_path):
    cache = tmp_path / "cache"
    no_meta = _zip(tmp_path / "a.zip", {"exp/m/config.yaml": "{}"})
    with pytest.raises(ValueError, match=f"{no_meta}: no meta.yaml"):
        locate_model(no_meta, cache_dir=cache)
    meta = yaml.safe_dump({"files": {"asr_model_file": "m.pth"},
                           "yaml_files": {"asr_train_config": "c.yaml"}})
    other = _zip(tmp_path / "b.zip", {"meta.yaml": meta, "m.pth": "x", "c.yaml": "{}"})
    with pytest.raises(ValueError, match="not an Echo model pack.*echo_train_config"):
        locate_model(other, cache_dir=cache)
    evil = _zip(tmp_path / "c.zip", {"meta.yaml": meta, "../../evil.py": "x"})
    with pytest.raises(UnsafeArchiveError, match="outside"):
        locate_model(evil, cache_dir=cache)
    assert not (tmp_path / "evil.py").exists() and not (cache.parent / "evil.py").exists()
    good = {"meta.yaml": yaml.safe_dump({"files": {"echo_model_file": "m.pth"},
                                         "yaml_files": {"echo_train_config": "c.yaml"}}),
            "m.pth": "weights" * 100, "c.yaml": "{}"}
    broken = _zip(tmp_path / "d.zip", good)
    data = bytearray(broken.read_bytes())
    at = data.index(b"weights")  # stored uncompressed: flip a byte of the member data
    data[at] ^= 0xFF
    broken.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"{broken}: member m.pth is corrupted"):
        locate_model(broken, cache_dir=cache)
    truncated = tmp_path / "e.zip"
    truncated.write_bytes(_zip(tmp_path / "f.zip", good).read_bytes()[:-30])
    with pytest.raises(ValueError, match=str(truncated)):
        locate_model(truncated, cache_dir=cache)
    assert not cache.exists() or not list(cache.iterdir())  # nothing refused was kept


def test_pack_then_locate_gives_the_same_weights(recipe, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # packing works from anywhere too
    first = pack_model(recipe / "exp/tiny", tmp_path / "a/tiny.zip",
                       results=recipe / "RESULTS.md", data_licence="public domain")
    again = pack_model(recipe / "exp/tiny", tmp_path / "b/tiny.zip",
                       results=recipe / "RESULTS.md", data_licence="public domain")
    digest = hashlib.sha256(first.read_bytes()).hexdigest()
    assert digest == hashlib.sha256(again.read_bytes()).hexdigest()  # deterministic
    with zipfile.ZipFile(first) as zf:
        names = zf.namelist()
        card = zf.read("README.md").decode()
        meta = yaml.safe_load(zf.read("meta.yaml"))
    assert names == sorted(names)
    assert set(names) == {"README.md", "meta.yaml", "exp/tiny/config.yaml",
                          "exp/tiny/valid.loss.best.pth", STATS}
    assert meta["yaml_files"] == {"echo_train_config": "exp/tiny/config.yaml"}
    assert meta["files"] == {"echo_model_file": "exp/tiny/valid.loss.best.pth"}
    assert "|tiny/test|12.34|" in card and "|tiny+vbx/test|23.45|" in card
    assert "oracle/test" not in card and "tiny_other" not in card
    assert "public domain" in card and "Apache 2.0" in card
    assert "echo_infer --model tiny.zip" in card

    cache = tmp_path / "cache"
    found = locate_model(first, cache_dir=cache)
    assert found.root == cache / f"tiny-{digest[:16]}"
    want = torch.load(recipe / "exp/tiny/valid.loss.best.pth", weights_only=True)
    assert _same(_state(found.train_config, found.model_file), want)
    stamp = found.model_file.stat().st_mtime_ns
    assert locate_model(first, cache_dir=cache) == found  # unpacked once
    assert found.model_file.stat().st_mtime_ns == stamp
    assert [p.name for p in cache.iterdir()] == [found.root.name]  # no temp dirs left
    assert locate_model(found.root) == found  # the unpacked dir itself


def test_pack_moves_files_outside_the_recipe_under_files(recipe, tmp_path, monkeypatch):
    bpe = _touch(tmp_path / "elsewhere/bpe.model", b"bpe")
    config = _config_with(recipe, tmp_path / "r", bpemodel=str(bpe),
                          init_param=["exp/jepa/latest.pth:encoder:encoder"])
    _touch(config.parent / "valid.loss.best.pth",
           (recipe / "exp/tiny/valid.loss.best.pth").read_bytes())
    _touch(config.parent / "plda.npz", b"plda")
    monkeypatch.chdir(recipe)  # the stats are found from the cwd
    out = pack_model(config.parent, tmp_path / "m.zip")
    with zipfile.ZipFile(out) as zf:
        packed = yaml.safe_load(zf.read("exp/m/config.yaml"))
        assert zf.read("files/bpemodel/bpe.model") == b"bpe"
        assert zf.read("exp/m/plda.npz") == b"plda"
        meta = yaml.safe_load(zf.read("meta.yaml"))
    assert packed["bpemodel"] == "files/bpemodel/bpe.model"
    assert packed["init_param"] == []  # the checkpoint holds those weights
    assert meta["files"]["echo_plda_file"] == "exp/m/plda.npz"
    found = locate_model(out, cache_dir=tmp_path / "cache")
    assert found.plda_file.read_bytes() == b"plda"
    monkeypatch.chdir(tmp_path)
    with resolved_train_config(found.train_config) as resolved:
        got = yaml.safe_load(resolved.read_text())
    assert got["bpemodel"] == str(found.root / "files/bpemodel/bpe.model")


def test_a_pack_loads_through_espnet_model_zoo(recipe, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = pack_model(recipe / "exp/tiny", tmp_path / "tiny.zip")
    echo = Speech2Echo.from_pretrained(str(out), cachedir=str(tmp_path / "zoo"))
    want = torch.load(recipe / "exp/tiny/valid.loss.best.pth", weights_only=True)
    assert _same(echo.model.state_dict(), want)

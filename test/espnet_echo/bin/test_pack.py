import zipfile

import pytest
import yaml

from espnet_echo.bin import pack


@pytest.fixture
def exp(tmp_path, monkeypatch):
    """A recipe dir with an exp dir whose config names a stats file (the packer does not
    build the model, so any bytes do as the checkpoint)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exp/stats").mkdir(parents=True)
    (tmp_path / "exp/stats/feats_stats.npz").write_bytes(b"stats")
    d = tmp_path / "exp/m"
    d.mkdir()
    (d / "config.yaml").write_text(yaml.safe_dump(
        {"normalize": "global_mvn", "max_epoch": 7,
         "normalize_conf": {"stats_file": "exp/stats/feats_stats.npz"},
         "train_data_path_and_name_and_type": [["dump/raw/train/wav.scp", "speech", "sound"]],
         "valid_data_path_and_name_and_type": [["dump/raw/dev/wav.scp", "speech", "sound"]]}))
    (d / "valid.loss.best.pth").write_bytes(b"weights")
    (d / "3epoch.pth").write_bytes(b"other weights")
    (tmp_path / "RESULTS.md").write_text("|system|DER|\n|---|---|\n|m/test|1.0|\n")
    return d


def test_pack_an_exp_dir(exp, tmp_path, capsys):
    out = tmp_path / "packed/m.zip"
    pack.main(["--model", str(exp), "--results", "RESULTS.md", "--outpath", str(out),
               "--data_licence", "CC0"])
    assert f"Generate: {out}" in capsys.readouterr().out
    with zipfile.ZipFile(out) as zf:
        assert zf.read("exp/m/valid.loss.best.pth") == b"weights"
        assert zf.read("exp/stats/feats_stats.npz") == b"stats"
        card = zf.read("README.md").decode()
    assert "|m/test|1.0|" in card and "- data: CC0" in card
    assert "dump/raw/train" in card and "dump/raw/dev" in card and "epochs: 7" in card


def test_the_older_flags_and_an_explicit_checkpoint(exp, tmp_path):
    out = tmp_path / "old.zip"
    pack.main(["--train_config", "exp/m/config.yaml", "--model_file", "exp/m/3epoch.pth",
               "--outpath", str(out)])
    with zipfile.ZipFile(out) as zf:
        meta = yaml.safe_load(zf.read("meta.yaml"))
        assert zf.read(meta["files"]["echo_model_file"]) == b"other weights"
    with pytest.raises(SystemExit):
        pack.main(["--train_config", "exp/m/config.yaml", "--outpath", str(out)])


def test_errors_are_one_line_naming_the_file(exp, tmp_path):
    with pytest.raises(SystemExit, match=f"pack: error: {tmp_path / 'exp/x'}: no such model"):
        pack.main(["--model", str(tmp_path / "exp/x"), "--outpath", str(tmp_path / "x.zip")])
    (tmp_path / "exp/stats/feats_stats.npz").unlink()
    with pytest.raises(SystemExit, match="normalize_conf.stats_file names"):
        pack.main(["--model", str(exp), "--outpath", str(tmp_path / "x.zip")])
    assert not (tmp_path / "x.zip").exists()

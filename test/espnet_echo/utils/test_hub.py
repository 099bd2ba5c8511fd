import hashlib

import huggingface_hub
import pytest
import yaml

from espnet_echo.bin import publish as publish_cli
from espnet_echo.inference.model_files import pack_model
from espnet_echo.utils.hub import plan_upload, publish


@pytest.fixture
def packed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exp/stats").mkdir(parents=True)
    (tmp_path / "exp/stats/feats_stats.npz").write_bytes(b"stats")
    (tmp_path / "exp/m").mkdir()
    (tmp_path / "exp/m/config.yaml").write_text(yaml.safe_dump(
        {"normalize_conf": {"stats_file": "exp/stats/feats_stats.npz"}}))
    (tmp_path / "exp/m/valid.loss.best.pth").write_bytes(b"weights")
    return pack_model(tmp_path / "exp/m", tmp_path / "m.zip")


@pytest.fixture(autouse=True)
def no_hub(monkeypatch):
    """Any real HfApi use fails the test: nothing is ever uploaded from here."""
    class Forbidden:
        def __init__(self, *a, **k):
            raise AssertionError("HfApi must not be used in tests")

    monkeypatch.setattr(huggingface_hub, "HfApi", Forbidden)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)


class FakeApi:
    def __init__(self, fail=None):
        self.calls, self.fail = [], fail

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", repo_id, kw))
        if self.fail:
            raise self.fail

    def upload_folder(self, **kw):
        self.calls.append(("upload_folder", kw))


EXPECTED = ["README.md", "exp/m/config.yaml", "exp/m/valid.loss.best.pth",
            "exp/stats/feats_stats.npz", "meta.yaml"]


def test_dry_run_lists_every_file_with_size_and_sha256(packed, tmp_path, capsys):
    publish_cli.main(["--model", str(packed), "--hf_repo", "me/tiny", "--dry_run",
                      "--cache_dir", str(tmp_path / "cache")])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "dry run: would upload to repo: https://huggingface.co/me/tiny (model)"
    listed = [line.split() for line in out[1:-1]]
    assert [x[0] for x in listed] == EXPECTED
    root = next((tmp_path / "cache").iterdir())
    for path, size, digest in listed:
        data = (root / path).read_bytes()
        assert int(size) == len(data) and digest == hashlib.sha256(data).hexdigest()
    assert (root / "exp/m/valid.loss.best.pth").read_bytes() == b"weights"
    assert out[-1].startswith("5 files, ")


def test_publish_creates_the_repo_and_uploads_exactly_the_pack(packed, tmp_path):
    api = FakeApi()
    plan = publish(packed, "me/tiny", cache_dir=tmp_path / "cache", api=api)
    assert [c[0] for c in api.calls] == ["create_repo", "upload_folder"]
    assert api.calls[0][1] == "me/tiny" and api.calls[0][2]["exist_ok"] is True
    upload = api.calls[1][1]
    assert upload["repo_id"] == "me/tiny" and upload["folder_path"] == str(plan.root)
    assert upload["allow_patterns"] == EXPECTED
    assert plan_upload(plan.root, "me/tiny").files == plan.files  # the unpacked dir too


def test_failures_are_one_line_and_suggest_dry_run(packed, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="no Hugging Face token.*--dry_run"):
        publish(packed, "me/tiny", cache_dir=cache)
    with pytest.raises(SystemExit, match="publish: error: no Hugging Face token"):
        publish_cli.main(["--model", str(packed), "--hf_repo", "me/tiny",
                          "--cache_dir", str(cache)])
    api = FakeApi(fail=ConnectionError("Name or service\nnot known"))
    with pytest.raises(RuntimeError) as e:
        publish(packed, "me/tiny", cache_dir=cache, api=api)
    assert str(e.value) == ("upload to me/tiny failed: ConnectionError: Name or service not "
                            "known; run with --dry_run to only list the files")
    with pytest.raises(ValueError, match="expected owner/name"):
        publish(packed, "tiny", dry_run=True)
    with pytest.raises(ValueError, match="not a packed model"):
        publish(tmp_path / "exp/m", "me/tiny", dry_run=True)

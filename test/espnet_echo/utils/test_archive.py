import io
import tarfile
import zipfile

import pytest

from espnet_echo.utils.archive import UnsafeArchiveError, check_archive


def _zip(path, names):
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(name, "x")
    return path


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tf:
        for name, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tf.addfile(info)
            else:
                info.size = 1
                tf.addfile(info, io.BytesIO(b"x"))
    return path


def test_good_archives_pass(tmp_path):
    names = ["meta.yaml", "exp/a/config.yaml", "exp/a/model.pth"]
    assert check_archive(_zip(tmp_path / "a.zip", names)) == names
    assert check_archive(_tar(tmp_path / "a.tgz", [(n, "f") for n in names])) == names


@pytest.mark.parametrize("name", ["../evil.py", "exp/../../evil", "/etc/cron.d/x", "C:/x"])
def test_traversal_is_rejected(tmp_path, name):
    with pytest.raises(UnsafeArchiveError, match="outside"):
        check_archive(_zip(tmp_path / "b.zip", ["meta.yaml", name]))
    with pytest.raises(UnsafeArchiveError, match="outside"):
        check_archive(_tar(tmp_path / "b.tgz", [("meta.yaml", "f"), (name, "f")]))


def test_links_in_tar_are_rejected(tmp_path):
    with pytest.raises(UnsafeArchiveError, match="link"):
        check_archive(_tar(tmp_path / "c.tgz", [("meta.yaml", "f"), ("exp/x", "sym")]))


def test_not_an_archive(tmp_path):
    (tmp_path / "d.zip").write_text("hello")
    with pytest.raises(ValueError, match="not a zip or tar"):
        check_archive(tmp_path / "d.zip")

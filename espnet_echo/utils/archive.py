# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Reject model archives whose members would land outside the unpack directory.

ESPnet's ``pack_funcs.unpack`` (used by espnet_model_zoo) joins member names onto the output
dir and calls ``TarFile.extract`` without a filter, so a crafted archive could write
anywhere. Every archive is checked here before it is handed to the downloader.
"""

import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import List, Union


class UnsafeArchiveError(ValueError):
    """An archive member is absolute, escapes with '..', or is a link or device."""


def _check_name(archive: Path, name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise UnsafeArchiveError(f"{archive}: member {name!r} would unpack outside the target")


def check_archive(path: Union[str, Path]) -> List[str]:
    """Validate a .zip or .tar(.gz/.bz2/.xz) model archive; return its member names.

    Raises:
        UnsafeArchiveError: path traversal, absolute names, links or special files.
        ValueError: not a zip or tar archive.
    """
    path = Path(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    elif tarfile.is_tarfile(path):
        with tarfile.open(path) as tf:
            names = []
            for member in tf.getmembers():
                if not (member.isfile() or member.isdir()):
                    raise UnsafeArchiveError(
                        f"{path}: member {member.name!r} is a link or special file"
                    )
                names.append(member.name)
    else:
        raise ValueError(f"{path}: not a zip or tar archive")
    for name in names:
        _check_name(path, name)
    return names

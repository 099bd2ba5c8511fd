# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Atomic writes and Kaldi-style ``<key> <value>`` files with errors that name file and line."""

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Dict, Iterator, Mapping, Optional, Union

PathLike = Union[str, Path]
#: A recording / utterance name is one plain path component (it names output dirs and
#: files): no separator, not starting with a dot, no control character. The one rule of
#: every tool that writes ``<out>/<name>...`` (``infer_files``, ``codec_encode/decode``).
SAFE_NAME = re.compile(r"[^./\\\x00-\x1f][^/\\\x00-\x1f]*")


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _default_mode() -> int:
    """Permissions a plain ``open(path, "w")`` would give (mkstemp uses 0600)."""
    return 0o666 & ~_umask()


class DataFileError(ValueError):
    """A data file is missing or malformed; the message names the file and line."""


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "w", **kwargs) -> Iterator:
    """Open a temporary file next to ``path`` and rename it onto ``path`` on success.

    On any exception the temporary file is removed and an existing ``path`` is left intact.

    Args:
        path: Destination file.
        mode: ``"w"`` or ``"wb"``.
        **kwargs: Passed to :func:`open` (e.g. ``encoding``).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.chmod(tmp, _default_mode())
    except OSError as e:
        raise OSError(f"{path}: cannot write output ({e.strerror or e})") from e
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_path(path: PathLike) -> "contextlib.AbstractContextManager[Path]":
    """Yield a temporary path next to ``path`` for writers that take a filename.

    The temporary keeps ``path``'s suffix (so e.g. soundfile infers the format) and is
    renamed onto ``path`` when the block exits without error.
    """

    @contextlib.contextmanager
    def _ctx():
        dest = Path(path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=dest.suffix, dir=dest.parent)
        os.close(fd)
        os.chmod(tmp, _default_mode())
        try:
            yield Path(tmp)
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    return _ctx()


def read_kaldi_map(
    path: PathLike, num_fields: Optional[int] = None, allow_empty_value: bool = False
) -> Dict[str, str]:
    """Read a Kaldi-style ``<key> <value...>`` file into an ordered dict.

    Args:
        path: File to read.
        num_fields: If given, the exact number of whitespace-separated fields in the value.
        allow_empty_value: Accept lines that hold only a key (e.g. an empty transcript).

    Returns:
        ``{key: value}`` where value is the rest of the line with outer whitespace stripped.

    Raises:
        DataFileError: missing file, empty line, duplicate key or wrong field count; the
            message names ``path:line``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    out: Dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                raise DataFileError(f"{path}:{lineno}: empty line")
            parts = line.strip().split(maxsplit=1)
            key = parts[0]
            value = parts[1].strip() if len(parts) > 1 else ""
            if not value and not allow_empty_value:
                raise DataFileError(f"{path}:{lineno}: expected '<key> <value>', got {line!r}")
            if num_fields is not None and len(value.split()) != num_fields:
                raise DataFileError(
                    f"{path}:{lineno}: expected {num_fields + 1} columns, "
                    f"got {len(value.split()) + 1}: {line!r}"
                )
            if key in out:
                raise DataFileError(f"{path}:{lineno}: duplicate key {key!r}")
            out[key] = value
    return out


def write_kaldi_map(path: PathLike, mapping: Mapping[str, object]) -> None:
    """Atomically write ``mapping`` as ``<key> <value>`` lines sorted by key (Kaldi order)."""
    with atomic_open(path) as f:
        for key in sorted(mapping):
            value = str(mapping[key])
            f.write(f"{key} {value}\n" if value else f"{key}\n")


@contextlib.contextmanager
def staged_dir(dst: PathLike, owner_file: str) -> Iterator[Path]:
    """Yield an empty temporary dir next to ``dst``; move it onto ``dst`` on success.

    On an exception the temporary dir is removed and an existing ``dst`` is untouched;
    temporary dirs that killed earlier runs left next to ``dst`` are removed after a
    successful swap.
    The swap renames the old ``dst`` aside, renames the new one in and then deletes the
    old one (two renames: a reader could see ``dst`` missing for an instant).

    An existing ``dst`` is only replaced when it is empty or holds ``owner_file`` (the
    stamp every caller writes into its output), i.e. when it is an earlier output of the
    same tool: a mistyped output path such as a parent dir (``dump`` for
    ``dump/raw/train``), the source data dir or ``.`` is refused before anything runs,
    instead of being swapped away with everything in it.

    Args:
        dst: Output dir.
        owner_file: Name of the stamp file the caller writes into ``dst``.

    Raises:
        FileExistsError: ``dst`` exists and is not a directory, or is a non-empty
            directory without ``owner_file``; the message names ``dst``.
    """
    dst = Path(os.path.abspath(dst))
    if dst.is_symlink() or (dst.exists() and not dst.is_dir()):
        raise FileExistsError(f"{dst}: exists and is not a directory")
    if dst.is_dir() and any(dst.iterdir()) and not (dst / owner_file).is_file():
        raise FileExistsError(
            f"{dst}: exists and is not an earlier output of this tool (no {owner_file}); "
            f"refusing to replace it and everything in it: choose a new output dir or "
            f"remove this one"
        )
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.tmp-", dir=dst.parent))
    try:
        yield tmp
        _apply_umask(tmp)
        if not dst.exists():
            os.rename(tmp, dst)
            _remove_leftovers(dst)
            return
        old = Path(tempfile.mkdtemp(prefix=f".{dst.name}.old-", dir=dst.parent))
        os.rename(dst, old / dst.name)
        try:
            os.rename(tmp, dst)
        except BaseException:
            os.rename(old / dst.name, dst)  # put the previous output back
            os.rmdir(old)
            raise
        shutil.rmtree(old, ignore_errors=True)
        _remove_leftovers(dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _remove_leftovers(dst: Path) -> None:
    """Remove the temporary dirs of earlier runs into ``dst`` that were killed.

    A run stopped by a signal (no Python cleanup) leaves ``.<name>.tmp-*`` /
    ``.<name>.old-*`` next to ``dst``; the next successful run removes them (one writer
    per output dir, as every caller has).
    """
    for pattern in (f".{dst.name}.tmp-*", f".{dst.name}.old-*"):
        for stale in dst.parent.glob(pattern):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)


def _apply_umask(root: Path) -> None:
    """Give ``root`` and its content the usual permissions (mkdtemp/mkstemp use 0700/0600)."""
    umask = _umask()
    for dirpath, _, filenames in os.walk(root):
        os.chmod(dirpath, 0o777 & ~umask)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o666 & ~umask)


def file_digest(path: PathLike) -> str:
    """SHA-256 of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def stamp_is_current(dst: PathLike, stamp: Dict, stamp_name: str) -> bool:
    """True if ``dst/stamp_name`` equals ``stamp`` and every listed output exists."""
    path = Path(dst) / stamp_name
    try:
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
    except (OSError, ValueError):
        return False
    if old.get("outputs") is None:
        return False
    outputs = old.pop("outputs")
    return old == stamp and all((Path(dst) / name).exists() for name in outputs)


def write_stamp(dst: PathLike, stamp: Dict, stamp_name: str) -> None:
    """Write ``stamp`` plus the list of files in ``dst`` as ``dst/stamp_name``."""
    outputs = sorted(p.name for p in Path(dst).iterdir() if p.name != stamp_name)
    with atomic_open(Path(dst) / stamp_name) as f:
        json.dump(dict(stamp, outputs=outputs), f, indent=1, sort_keys=True)
        f.write("\n")

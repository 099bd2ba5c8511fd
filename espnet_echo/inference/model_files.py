# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Find a trained model's files wherever it lives, and pack it into one zip.

A ``config.yaml`` written by training names the files it needs relative to the directory
training ran in (the recipe dir): ``normalize_conf.stats_file:
exp/stats_fbank/train/feats_stats.npz``, ``bpemodel: data/token_list/.../bpe.model``,
``token_list`` / ``spk_list`` when they are paths. :func:`resolved_train_config` finds them
from anywhere by looking next to the model; :func:`locate_model` turns an exp dir, a
packed zip or an unpacked pack into a :class:`ModelFiles`; :func:`pack_model` writes the
ESPnet model-zoo zip (``meta.yaml`` with ``echo_train_config`` / ``echo_model_file``, read
by :meth:`Speech2Echo.from_pretrained` through espnet_model_zoo) with a model card.
"""

import contextlib
import logging
import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import yaml

from espnet_echo.utils.archive import UnsafeArchiveError, check_archive
from espnet_echo.utils.fileio import atomic_path, file_digest

PathLike = Union[str, Path]

#: Levels above the config's directory searched for the files it names: 0 is the
#: config's own dir, 2 the recipe dir of ``exp/<name>/config.yaml``, 3 that of
#: ``exp/<group>/<name>/config.yaml`` (and the root of an unpacked pack).
SEARCH_LEVELS = 3
#: Checkpoints tried in an exp dir, in order; then any other ``valid.*.best.pth``
#: (sorted), then ``latest.pth`` (the last epoch, with a warning).
CHECKPOINT_ORDER = ("valid.loss.best.pth",)
#: ``meta.yaml`` keys of a pack (``files`` / ``yaml_files``).
CONFIG_KEY = "echo_train_config"
MODEL_KEY = "echo_model_file"
PLDA_KEY = "echo_plda_file"
PLDA_NAME = "plda.npz"
#: Fixed member timestamp of a packed zip (the earliest a zip can hold).
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
DEFAULT_CACHE = Path.home() / ".cache" / "espnet_echo"


@dataclass(frozen=True)
class ModelFiles:
    """The files of one trained model.

    Attributes:
        train_config: ``config.yaml`` written by training (paths not yet resolved: pass
            it through :func:`resolved_train_config`).
        model_file: Checkpoint (``*.pth``).
        plda_file: PLDA of blind diarization (``plda.npz``) or None.
        root: The exp dir, or the directory a pack was unpacked into.
    """

    train_config: Path
    model_file: Path
    plda_file: Optional[Path]
    root: Path


@dataclass(frozen=True)
class _FileRef:
    """One file a config names: where the value sits, and the value."""

    label: str  # e.g. "normalize_conf.stats_file", "init_param[0]"
    path: Tuple  # keys / indices from the config root to the value
    value: str  # the path string (for init_param: only the part before the first ':')
    required: bool  # False: only training uses it (init_param)


def _load_config(train_config: Path) -> dict:
    try:
        with open(train_config, encoding="utf-8") as f:
            config = yaml.safe_load(f)
    except FileNotFoundError:
        raise ValueError(f"{train_config}: training config not found") from None
    except yaml.YAMLError as e:
        first = str(e).splitlines()[0]
        raise ValueError(f"{train_config}: not valid YAML ({first})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{train_config}: expected a mapping, got {type(config).__name__}")
    return config


def _file_refs(config: dict) -> List[_FileRef]:
    """The files a training config names.

    ``bpemodel``; ``token_list`` and ``spk_list`` when they are strings (training inlines
    them as lists); every ``*_file`` key in a ``*_conf`` mapping, at any depth
    (``normalize_conf.stats_file``, ``model_conf.gmm_file``); and the checkpoint of each
    ``init_param`` entry (``path:src_key:dst_key``), which only training reads.
    """
    refs: List[_FileRef] = []
    for key in ("bpemodel", "token_list", "spk_list"):
        if isinstance(config.get(key), str):
            refs.append(_FileRef(key, (key,), config[key], True))

    def walk(node, path: Tuple, label: str) -> None:
        for k, v in node.items():
            if isinstance(v, dict):
                walk(v, path + (k,), f"{label}.{k}")
            elif isinstance(k, str) and k.endswith("_file") and isinstance(v, str) and v:
                refs.append(_FileRef(f"{label}.{k}", path + (k,), v, True))

    for key, value in config.items():
        if isinstance(key, str) and key.endswith("_conf") and isinstance(value, dict):
            walk(value, (key,), key)
    init = config.get("init_param") or []
    if isinstance(init, str):
        init = [init]
    for i, entry in enumerate(init):
        if isinstance(entry, str) and entry:
            refs.append(_FileRef(f"init_param[{i}]", ("init_param", i),
                                 entry.split(":")[0], False))
    return refs


def _candidates(value: str, config_dir: Path) -> List[Path]:
    """Where a config value may point: absolute as is; relative next to the model first
    (the config's dir and :data:`SEARCH_LEVELS` levels above), then from the cwd."""
    p = Path(value)
    if p.is_absolute():
        return [p]
    base = config_dir.resolve()
    out = [base] + list(base.parents)[:SEARCH_LEVELS]
    tried = [b / p for b in out] + [Path.cwd() / p]
    seen, unique = set(), []
    for t in tried:
        key = os.path.normpath(t)
        if key not in seen:
            seen.add(key)
            unique.append(Path(key))
    return unique


def _find(train_config: Path, ref: _FileRef) -> Optional[Path]:
    """The first existing candidate of ``ref``; None for a missing optional file.

    Raises:
        ValueError: a required file exists nowhere; names the config, key and places.
    """
    tried = _candidates(ref.value, train_config.parent)
    for cand in tried:
        if cand.exists():
            return cand
    if not ref.required:
        return None
    raise ValueError(
        f"{train_config}: {ref.label} names {ref.value!r}, which exists in none of: "
        + ", ".join(str(t) for t in tried)
    )


def _get(config, path: Tuple):
    for k in path:
        config = config[k]
    return config


def _set(config, path: Tuple, value) -> None:
    for k in path[:-1]:
        config = config[k]
    config[path[-1]] = value


def _replace_ref(config: dict, ref: _FileRef, new: str) -> None:
    old = _get(config, ref.path)
    if ref.path[0] == "init_param":
        new = new + old[len(ref.value):]  # keep ":src_key:dst_key"
    _set(config, ref.path, new)


@contextlib.contextmanager
def resolved_train_config(train_config: PathLike) -> Iterator[Path]:
    """Yield a training config whose file paths resolve from the current directory.

    Each relative path the config names (see :func:`_file_refs`) is looked up next to the
    model first, in the config's directory and up to :data:`SEARCH_LEVELS` (3) levels
    above it (``exp/<name>/config.yaml`` -> the recipe dir is 2 up), then from the cwd;
    the first that exists wins. Model-relative comes first so that running from another
    recipe dir cannot pick up that recipe's statistics. Where a path resolves to
    something other than what it names from the cwd, a temporary copy of the config with
    absolute paths is yielded (removed on exit); otherwise the original file. A missing
    ``init_param`` checkpoint is left as is: only training reads it.

    Example:
        >>> with resolved_train_config("exp/echo_train_echo/config.yaml") as config:
        ...     model, args = EchoTask.build_model_from_file(config, None, "cpu")

    Args:
        train_config: ``config.yaml`` written by training.

    Yields:
        Path of a config whose paths all exist from the cwd.

    Raises:
        ValueError: the config is missing or not a YAML mapping, or a file it names is
            found nowhere (the message names the config, the key and every place tried).
    """
    train_config = Path(train_config)
    config = _load_config(train_config)
    changed = False
    for ref in _file_refs(config):
        found = _find(train_config, ref)
        if found is None:
            continue
        as_named = Path(ref.value)
        if as_named.exists() and os.path.samefile(as_named, found):
            continue
        _replace_ref(config, ref, str(found.resolve()))
        changed = True
    if not changed:
        yield train_config
        return
    with tempfile.TemporaryDirectory(prefix="espnet_echo_config.") as tmp:
        out = Path(tmp) / train_config.name
        with open(out, "w", encoding="utf-8") as f:
            yaml.safe_dump(config, f, sort_keys=False, allow_unicode=True)
        yield out


def _pick_checkpoint(exp_dir: Path) -> Path:
    for name in CHECKPOINT_ORDER:
        if (exp_dir / name).is_file():
            return exp_dir / name
    best = sorted(p for p in exp_dir.glob("valid.*.best.pth") if p.is_file())
    if best:
        return best[0]
    if (exp_dir / "latest.pth").is_file():
        logging.warning("%s: no valid.*.best.pth; using latest.pth (the last epoch)", exp_dir)
        return exp_dir / "latest.pth"
    raise ValueError(
        f"{exp_dir}: no checkpoint (tried {', '.join(CHECKPOINT_ORDER)}, "
        "valid.*.best.pth, latest.pth)"
    )


def _member(root: Path, meta: Path, value: str, key: str) -> Path:
    """``root/value`` for a ``meta.yaml`` entry, refusing names that leave ``root``."""
    p = PurePosixPath(str(value).replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts:
        raise ValueError(f"{meta}: {key} {value!r} is not a path inside the pack")
    path = root / p
    if not path.is_file():
        raise ValueError(f"{meta}: {key} names {value}, which is not in {root}")
    return path


def _locate_pack_dir(root: Path) -> ModelFiles:
    meta = root / "meta.yaml"
    try:
        with open(meta, encoding="utf-8") as f:
            d = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ValueError(f"{meta}: not valid YAML ({str(e).splitlines()[0]})") from None
    files = d.get("files") if isinstance(d, dict) else None
    yaml_files = d.get("yaml_files") if isinstance(d, dict) else None
    if not isinstance(files, dict) or not isinstance(yaml_files, dict):
        raise ValueError(f"{meta}: expected the mappings 'files' and 'yaml_files'")
    if CONFIG_KEY not in yaml_files or MODEL_KEY not in files:
        raise ValueError(
            f"{meta}: not an Echo model pack (needs yaml_files.{CONFIG_KEY} and "
            f"files.{MODEL_KEY}; has {sorted(yaml_files) + sorted(files)})"
        )
    plda = files.get(PLDA_KEY)
    return ModelFiles(
        train_config=_member(root, meta, yaml_files[CONFIG_KEY], CONFIG_KEY),
        model_file=_member(root, meta, files[MODEL_KEY], MODEL_KEY),
        plda_file=_member(root, meta, plda, PLDA_KEY) if plda else None,
        root=root,
    )


def _unpack_zip(archive: Path, cache_dir: Path) -> Path:
    """Unpack ``archive`` into ``cache_dir/<stem>-<sha256[:16]>`` once; return that dir."""
    if not zipfile.is_zipfile(archive):
        raise ValueError(f"{archive}: not a zip archive (pack a model with "
                         "python -m espnet_echo.bin.pack)")
    check_archive(archive)
    digest = file_digest(archive)
    target = cache_dir / f"{archive.stem}-{digest[:16]}"
    if (target / "meta.yaml").is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=cache_dir))
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                bad = zf.testzip()
                if bad is not None:
                    raise ValueError(f"{archive}: member {bad} is corrupted (CRC mismatch)")
                for info in zf.infolist():
                    if info.is_dir():
                        continue
                    dest = tmp / PurePosixPath(info.filename)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(dest, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as e:
            raise ValueError(f"{archive}: corrupted zip ({e})") from None
        if not (tmp / "meta.yaml").is_file():
            raise ValueError(f"{archive}: no meta.yaml at the top (not a packed model)")
        _locate_pack_dir(tmp)  # the expected keys, before it enters the cache
        for dirpath, _, names in os.walk(tmp):
            os.chmod(dirpath, 0o755)
            for name in names:
                os.chmod(os.path.join(dirpath, name), 0o644)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "meta.yaml").is_file():  # not a concurrent unpack: real error
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def locate_model(model: PathLike, cache_dir: Optional[PathLike] = None) -> ModelFiles:
    """Find the config, checkpoint and PLDA of a model.

    ``model`` is one of:

    * an exp dir (``config.yaml`` and a checkpoint): ``valid.loss.best.pth`` (what the
      recipe decodes with), else the first other ``valid.*.best.pth`` in sorted order,
      else ``latest.pth`` (with a warning); ``plda.npz`` next to it if present;
    * a zip written by :func:`pack_model` (or any ESPnet pack with ``echo_*`` keys): its
      members are checked (:func:`check_archive`) and it is unpacked once into
      ``cache_dir/<stem>-<sha256[:16]>`` (a temp dir renamed into place, so an
      interrupted unpack leaves nothing; later calls reuse it);
    * a directory such a zip was unpacked into (``meta.yaml`` at the top).

    Args:
        model: Exp dir, zip or unpacked pack dir.
        cache_dir: Where zips are unpacked (default ``~/.cache/espnet_echo``).

    Returns:
        The model's files; :attr:`ModelFiles.root` is the exp dir or the unpacked dir.

    Raises:
        ValueError: ``model`` does not exist, an exp dir lacks its config or checkpoint,
            a zip is corrupted, unsafe (:class:`UnsafeArchiveError`) or lacks
            ``meta.yaml`` / the ``echo_train_config`` and ``echo_model_file`` keys; the
            message names the path.
    """
    model = Path(model)
    if model.is_file():
        cache = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
        return _locate_pack_dir(_unpack_zip(model, cache))
    if not model.is_dir():
        raise ValueError(f"{model}: no such model (expected an exp dir, a packed .zip or "
                         "an unpacked pack dir)")
    if (model / "meta.yaml").is_file():
        return _locate_pack_dir(model)
    if not (model / "config.yaml").is_file():
        raise ValueError(f"{model}: no config.yaml (not an exp dir of a trained model)")
    plda = model / PLDA_NAME
    return ModelFiles(
        train_config=model / "config.yaml",
        model_file=_pick_checkpoint(model),
        plda_file=plda if plda.is_file() else None,
        root=model,
    )


def _arcname(value: str, label: str) -> Tuple[str, bool]:
    """The member name of a file the config names, and whether the config must change.

    A relative path that stays below the recipe dir keeps its name (so the packed
    config needs no change and espnet_model_zoo rewrites it on unpack as with ESPnet's
    own packs); any other goes under ``files/<key>/``.
    """
    p = PurePosixPath(os.path.normpath(value).replace("\\", "/"))
    if not p.is_absolute() and p.parts and p.parts[0] != "..":
        return str(p), str(p) != value
    key = label.replace("[", "_").replace("]", "").replace(".", "_")
    return f"files/{key}/{p.name}", True


def _meta(files: Dict[str, str], yaml_files: Dict[str, str]) -> str:
    from importlib.metadata import PackageNotFoundError, version

    import espnet2
    import torch

    try:
        echo_version = version("espnet_echo")
    except PackageNotFoundError:
        echo_version = "unknown"
    meta = dict(
        files=files, yaml_files=yaml_files, espnet=espnet2.__version__,
        espnet_echo=echo_version, torch=str(torch.__version__),
        python=sys.version.split()[0],
    )
    return yaml.safe_dump(meta, sort_keys=True)


def pack_model(
    model: PathLike,
    outpath: PathLike,
    results: Optional[PathLike] = None,
    data_licence: Optional[str] = None,
    model_file: Optional[PathLike] = None,
    extra_files: Sequence[PathLike] = (),
) -> Path:
    """Pack a trained model into a self-contained ESPnet model-zoo zip.

    Members: ``meta.yaml`` (``yaml_files.echo_train_config``, ``files.echo_model_file``
    and ``files.echo_plda_file`` when there is a PLDA), ``exp/<name>/config.yaml``, the
    checkpoint and ``plda.npz`` under ``exp/<name>/``, every file the config names (see
    :func:`resolved_train_config`) under the path the config gives it, and a model card
    ``README.md`` (:func:`espnet_echo.utils.model_card.model_card`). The packed config
    names the files by their member paths and has no ``init_param`` (the checkpoint
    holds those weights). Entries are sorted and dated 1980-01-01, so packing the same
    files again gives the same bytes (same sha256).

    Args:
        model: Exp dir, or ``config.yaml`` itself (then give ``model_file``).
        outpath: The zip to write (atomically).
        results: The recipe's ``RESULTS.md`` whose rows of this model go into the card.
        data_licence: The training data's licence, for the card.
        model_file: Checkpoint to pack instead of the exp dir's choice
            (:func:`locate_model`).
        extra_files: More files, packed under their path relative to the cwd.

    Returns:
        ``outpath``.

    Raises:
        ValueError: a file is missing, a name is taken by two files, or an extra file is
            outside the cwd; the message names it.
    """
    from espnet_echo.utils.model_card import model_card

    model = Path(model)
    if model.is_file() and model.suffix in (".yaml", ".yml"):
        if model_file is None:
            raise ValueError(f"{model}: packing a config alone needs model_file")
        plda = model.parent / PLDA_NAME
        found = ModelFiles(model, Path(model_file), plda if plda.is_file() else None,
                           model.parent)
    else:
        found = locate_model(model)
        if model_file is not None:
            found = ModelFiles(found.train_config, Path(model_file), found.plda_file,
                               found.root)
    if not found.model_file.is_file():
        raise ValueError(f"{found.model_file}: checkpoint not found")
    config = _load_config(found.train_config)
    name = found.train_config.resolve().parent.name
    members: Dict[str, Path] = {}

    def add(arcname: str, path: Path) -> None:
        if arcname in members and os.path.realpath(members[arcname]) != os.path.realpath(path):
            raise ValueError(f"{outpath}: {members[arcname]} and {path} would both be "
                             f"packed as {arcname}")
        members[arcname] = path

    for ref in _file_refs(config):
        if not ref.required:
            continue
        path = _find(found.train_config, ref)
        arcname, rewrite = _arcname(ref.value, ref.label)
        add(arcname, path)
        if rewrite:
            _replace_ref(config, ref, arcname)
    if config.get("init_param"):
        config["init_param"] = []
    config_name = f"exp/{name}/config.yaml"
    model_name = f"exp/{name}/{found.model_file.name}"
    add(model_name, found.model_file)
    files = {MODEL_KEY: model_name}
    if found.plda_file is not None:
        files[PLDA_KEY] = f"exp/{name}/{PLDA_NAME}"
        add(files[PLDA_KEY], found.plda_file)
    for extra in extra_files:
        rel = os.path.relpath(Path(extra).resolve(), Path.cwd().resolve())
        if rel.startswith(".."):
            raise ValueError(f"{extra}: extra files must be below the cwd {Path.cwd()}")
        if not Path(extra).is_file():
            raise ValueError(f"{extra}: file not found")
        add(PurePosixPath(Path(rel)).as_posix(), Path(extra))
    if results is not None and not Path(results).is_file():
        raise ValueError(f"{results}: results file not found")
    texts = {
        config_name: yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
        "meta.yaml": _meta(files, {CONFIG_KEY: config_name}),
    }
    sizes = {a: p.stat().st_size for a, p in members.items()}
    sizes.update({a: len(t.encode()) for a, t in texts.items()})
    texts["README.md"] = model_card(
        config=config, name=name, files=sizes, zip_name=Path(outpath).name,
        results=Path(results).read_text(encoding="utf-8") if results else None,
        data_licence=data_licence, has_plda=found.plda_file is not None,
    )
    for a in texts:
        if a in members:
            raise ValueError(f"{outpath}: {members[a]} would overwrite the generated {a}")
    outpath = Path(outpath)
    with atomic_path(outpath) as tmp:
        with zipfile.ZipFile(tmp, "w") as zf:
            for arcname in sorted(set(members) | set(texts)):
                info = zipfile.ZipInfo(arcname, ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                info.create_system = 3
                if arcname in texts:
                    zf.writestr(info, texts[arcname].encode())
                else:
                    with open(members[arcname], "rb") as src, zf.open(info, "w") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
    return outpath


def pack_files(
    model: PathLike, cache_dir: Optional[PathLike] = None
) -> Tuple[Path, List[Tuple[str, int, str]]]:
    """The root of a pack and ``(path in it, size, sha256)`` of every file in it.

    Args:
        model: A packed zip (unpacked by :func:`locate_model`) or its unpacked dir.
        cache_dir: Where a zip is unpacked (default ``~/.cache/espnet_echo``).

    Raises:
        ValueError: ``model`` is neither (e.g. an exp dir: pack it first).
    """
    found = locate_model(model, cache_dir)
    if not (found.root / "meta.yaml").is_file():
        raise ValueError(f"{model}: not a packed model (pack it with python -m "
                         "espnet_echo.bin.pack first)")
    out = []
    for path in sorted(p for p in found.root.rglob("*") if p.is_file()):
        rel = path.relative_to(found.root).as_posix()
        out.append((rel, path.stat().st_size, file_digest(path)))
    return found.root, out


__all__ = [
    "ModelFiles", "UnsafeArchiveError", "locate_model", "pack_files", "pack_model",
    "resolved_train_config", "SEARCH_LEVELS",
]

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""The encoder of an OWSM (ESPnet S2T) model, to initialise the Echo UME baseline.

:func:`extract_owsm_encoder` reads an S2T exp dir (``config.yaml`` + ``model.pth``) or a
packed ESPnet S2T zip (checked for path traversal, then unpacked with espnet_model_zoo's
``ModelDownloader`` into ``<outdir>/packed``) and writes (each file atomically):

* ``<outdir>/encoder.pth``: plain state dict of the ``encoder.*`` entries (plus the
  ``frontend.*`` entries when the frontend has parameters), original prefixes kept, for
  ``--init_param <outdir>/encoder.pth:encoder:encoder`` (and ``...:frontend:frontend``).
* ``<outdir>/encoder_conf.yaml``: the S2T config's ``frontend(_conf)``, ``normalize(_conf)``
  and ``encoder(_conf)`` (plus ``input_size`` for a model without frontend), to paste into
  an Echo training config; ``normalize_conf.stats_file`` points at the copy below.
* ``<outdir>/feats_stats.npz``: copy of the S2T ``normalize_conf.stats_file``, if any (a
  stale copy from an earlier run is removed otherwise).

Checks, all before anything is written:

* the S2T ``frontend``/``normalize``/``encoder`` must be choices EchoTask can build, and the
  model must not use a pre/post-encoder or an inter-CTC-conditioned encoder (errors);
  an encoder other than ``e_branchformer`` (``transformer``/``conformer``) is allowed with
  a warning, as it is not the OWSM v3.1 / UME baseline layout;
* the checkpoint is read with ``torch.load(weights_only=True)`` (no pickled code runs)
  and compared with the state dict of the model built from the config
  (``S2TTask.build_model_from_file``): a missing, unexpected or differently shaped
  ``encoder.``/``frontend.``/``normalize.`` entry is an error; mismatches elsewhere
  (decoder, CTC) are only warned about, as they are discarded;
* the copied stats must give the ``normalize.mean``/``std`` stored in the checkpoint.

A relative ``stats_file`` is looked up in the working directory, then relative to the
directories above the config (ESPnet recipes store it relative to the recipe dir);
``stats_file`` given to :func:`extract_owsm_encoder` overrides it.
"""

import contextlib
import logging
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import yaml

from espnet_echo.utils.archive import check_archive
from espnet_echo.utils.checkpoint import CheckpointError, load_state_dict
from espnet_echo.utils.fileio import atomic_open, atomic_path

PathLike = Union[str, Path]

ENCODER_FILE = "encoder.pth"
CONF_FILE = "encoder_conf.yaml"
STATS_FILE = "feats_stats.npz"
BASELINE_ENCODER = "e_branchformer"
# State-dict prefixes whose entries must match the config exactly.
CHECKED_PREFIXES = ("encoder.", "frontend.", "normalize.")
_MAX_LISTED = 8


class ExtractError(ValueError):
    """The S2T model cannot be turned into an Echo encoder init; the message says why."""


def _listing(keys: Iterable[str]) -> str:
    keys = sorted(keys)
    more = f" ... (+{len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else ""
    return ", ".join(keys[:_MAX_LISTED]) + more


def unpack_packed_model(packed_model: PathLike, cachedir: PathLike) -> Tuple[Path, Path]:
    """Unpack an ESPnet S2T zip/tar into ``cachedir``; return (config, model_file).

    Raises:
        FileNotFoundError: no such archive.
        UnsafeArchiveError: a member would unpack outside ``cachedir``.
        ExtractError: not an S2T package, or its meta.yaml points outside ``cachedir``.
    """
    from espnet_model_zoo.downloader import ModelDownloader

    packed_model = Path(packed_model)
    if not packed_model.is_file():
        raise FileNotFoundError(f"{packed_model}: packed model not found")
    check_archive(packed_model)
    downloader = ModelDownloader(cachedir=cachedir)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Expanding a local model")
        try:
            files = downloader.unpack_local_file(str(packed_model))
        except (RuntimeError, KeyError, AssertionError, yaml.YAMLError) as e:
            raise ExtractError(f"{packed_model}: not an ESPnet packed model ({e})") from e
    missing = [k for k in ("s2t_train_config", "s2t_model_file") if not files.get(k)]
    if missing:
        raise ExtractError(
            f"{packed_model}: not an ESPnet S2T (OWSM) package: meta.yaml lacks {missing} "
            f"(has {sorted(files)})"
        )
    root = Path(downloader.cachedir).resolve()
    out = []
    for key in ("s2t_train_config", "s2t_model_file"):
        path = Path(files[key])
        if root not in path.resolve().parents:
            raise ExtractError(
                f"{packed_model}: meta.yaml entry {key}={path} is outside the unpack dir "
                f"{root} (packed with an absolute path?)"
            )
        if not path.is_file():
            raise ExtractError(f"{packed_model}: {key} {path} is not in the archive")
        out.append(path)
    return out[0], out[1]


def load_checkpoint(model_file: PathLike) -> Dict[str, torch.Tensor]:
    """Read a plain ESPnet state dict (``model.pth``) without running pickled code.

    Args:
        model_file: ``model.pth`` (a deepspeed ``{"module": ...}`` wrapper is unwrapped).

    Returns:
        ``{key: tensor}``.

    Raises:
        FileNotFoundError: no such file.
        ExtractError: not loadable with ``weights_only=True``, not a state dict, or a
            trainer checkpoint (``checkpoint.pth``).
    """
    model_file = Path(model_file)
    if not model_file.is_file():
        raise FileNotFoundError(f"{model_file}: model file not found")
    try:
        state = load_state_dict(model_file)
    except CheckpointError as e:  # empty, corrupt, non-torch file or not a dict
        raise ExtractError(str(e)) from e
    if isinstance(state, Mapping) and "module" in state:  # deepspeed, as ESPnet does
        state = state["module"]
    if not isinstance(state, Mapping):
        raise ExtractError(f"{model_file}: expected a state dict, got {type(state).__name__}")
    if "model" in state and isinstance(state["model"], Mapping):
        raise ExtractError(
            f"{model_file}: looks like a training checkpoint (checkpoint.pth); pass a model "
            "file such as valid.acc.ave.pth"
        )
    return dict(state)


def compare_state_dicts(
    expected: Mapping[str, torch.Tensor], got: Mapping[str, object]
) -> Tuple[List[str], List[str], List[str]]:
    """Keys missing from ``got``, unexpected in ``got``, and with a different shape.

    Args:
        expected: State dict of the model built from the config.
        got: State dict of the checkpoint.

    Returns:
        ``(missing, unexpected, shape)``: key lists, and ``"<key> <got> != <expected>"``
        texts for the shape mismatches.
    """
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    shape = [
        f"{k} {tuple(got[k].shape) if isinstance(got[k], torch.Tensor) else type(got[k])}"
        f" != {tuple(expected[k].shape)}"
        for k in expected
        if k in got
        and (not isinstance(got[k], torch.Tensor) or got[k].shape != expected[k].shape)
    ]
    return missing, unexpected, shape


def check_checkpoint(
    model_state: Mapping[str, torch.Tensor],
    ckpt: Mapping[str, object],
    model_file: PathLike,
    config: PathLike,
    prefixes: Sequence[str] = CHECKED_PREFIXES,
) -> None:
    """Error on mismatches under ``prefixes``; warn on the others.

    Args:
        model_state: State dict of the model built from ``config``.
        ckpt: State dict read from ``model_file``.
        model_file: Checkpoint path (for messages).
        config: Config path (for messages).
        prefixes: Key prefixes that must match exactly.

    Raises:
        ExtractError: no ``encoder.*`` entry, or a mismatch under ``prefixes``.
    """
    if not any(k.startswith("encoder.") for k in ckpt):
        raise ExtractError(
            f"{model_file}: no 'encoder.*' entries (keys start with "
            f"{_listing({k.split('.')[0] for k in ckpt}) or 'nothing'}); is it an ESPnet "
            "S2T model.pth?"
        )
    missing, unexpected, shape = compare_state_dicts(model_state, ckpt)

    def split(keys):
        inside = [k for k in keys if k.startswith(tuple(prefixes))]
        return inside, [k for k in keys if not k.startswith(tuple(prefixes))]

    problems, ignored = [], []
    for what, keys in (("missing", missing), ("unexpected", unexpected),
                       ("shape mismatch (checkpoint != config)", shape)):
        bad, other = split(keys)
        if bad:
            problems.append(f"{what}: {_listing(bad)}")
        if other:
            ignored.append(f"{what}: {_listing(other)}")
    if problems:
        raise ExtractError(
            f"{model_file} does not match the model of {config}; "
            + "; ".join(problems)
            + ". Use the config.yaml the model was trained with."
        )
    if ignored:
        logging.warning(
            f"{model_file} vs {config} outside the extracted modules (discarded): "
            + "; ".join(ignored)
        )


def resolve_stats_file(stats_file: PathLike, config: PathLike) -> Path:
    """Find a config's ``stats_file``: as given, else relative to the config's parents.

    Args:
        stats_file: ``normalize_conf.stats_file`` of the config (or the override).
        config: The config (its four nearest parent dirs are searched).

    Returns:
        The path of the existing file.

    Raises:
        FileNotFoundError: found nowhere; the message names the config.
    """
    path = Path(stats_file)
    if path.is_file():
        return path
    if not path.is_absolute():
        for parent in list(Path(config).resolve().parents)[:4]:
            if (parent / path).is_file():
                logging.info(f"normalize_conf.stats_file {path} found under {parent}")
                return parent / path
    raise FileNotFoundError(
        f"{config}: normalize_conf.stats_file {stats_file} not found (looked in the working "
        "directory and above the config); pass --stats_file"
    )


def check_echo_compatible(cfg: Mapping, config: PathLike) -> None:
    """Error if EchoTask cannot build this frontend/normalize/encoder; warn on non-baseline.

    Args:
        cfg: The S2T training config.
        config: Its path (for messages).

    Raises:
        ExtractError: a choice EchoTask lacks, a pre/post-encoder, or an
            inter-CTC-conditioned encoder.
    """
    from espnet_echo.tasks import echo as echo_task

    for choices in (echo_task.frontend_choices, echo_task.normalize_choices,
                    echo_task.encoder_choices):
        name = cfg.get(choices.name)
        if name not in choices.choices():
            raise ExtractError(
                f"{config}: {choices.name}={name!r} cannot be built by EchoTask (choices: "
                f"{[c for c in choices.choices() if c is not None]})"
            )
    for extra in ("preencoder", "postencoder"):
        if cfg.get(extra) is not None:
            raise ExtractError(
                f"{config}: the S2T model has a {extra} ({cfg[extra]!r}); the Echo model has "
                "no such block, so its encoder would not see the same input/output"
            )
    if (cfg.get("encoder_conf") or {}).get("interctc_use_conditioning"):
        raise ExtractError(
            f"{config}: encoder_conf.interctc_use_conditioning is true; the encoder then "
            "depends on the S2T CTC layer, which the Echo model does not have"
        )
    if cfg["encoder"] != BASELINE_ENCODER:
        logging.warning(
            f"{config}: encoder={cfg['encoder']!r}, not {BASELINE_ENCODER!r}; extracting "
            "anyway, but this is not the OWSM v3.1 / UME baseline layout"
        )


def extract_owsm_encoder(
    outdir: PathLike,
    s2t_train_config: Optional[PathLike] = None,
    s2t_model_file: Optional[PathLike] = None,
    packed_model: Optional[PathLike] = None,
    stats_file: Optional[PathLike] = None,
) -> Dict[str, Path]:
    """Write ``encoder.pth``, ``encoder_conf.yaml`` (and ``feats_stats.npz``) to ``outdir``.

    Args:
        outdir: Output directory.
        s2t_train_config: S2T ``config.yaml`` (default: next to ``s2t_model_file``).
        s2t_model_file: S2T ``model.pth`` (a plain state dict).
        packed_model: ESPnet S2T zip/tar instead of the two files above.
        stats_file: Overrides the config's ``normalize_conf.stats_file``.

    Returns:
        ``{"encoder": path, "conf": path[, "stats": path]}`` of the files written.

    Raises:
        FileNotFoundError: an input file is missing.
        ExtractError: config/checkpoint mismatch, or a model Echo cannot use.
        UnsafeArchiveError: the packed model would unpack outside its directory.
    """
    from espnet2.tasks.s2t import S2TTask

    outdir = Path(outdir)
    if packed_model is not None:
        if s2t_train_config is not None or s2t_model_file is not None:
            raise ValueError("give either packed_model or s2t_train_config/s2t_model_file")
        config, model_file = unpack_packed_model(packed_model, outdir / "packed")
    else:
        if s2t_model_file is None:
            raise ValueError("s2t_model_file (or packed_model) is required")
        model_file = Path(s2t_model_file)
        config = (Path(s2t_train_config) if s2t_train_config is not None
                  else model_file.parent / "config.yaml")
    for what, path in (("config", config), ("model file", model_file)):
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: S2T {what} not found")

    with open(config, encoding="utf-8") as f:
        try:
            cfg = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise ExtractError(f"{config}: not valid YAML ({e})") from e
    if not isinstance(cfg, dict) or "encoder" not in cfg:
        raise ExtractError(f"{config}: not an ESPnet training config (no 'encoder' key)")
    check_echo_compatible(cfg, config)

    # The stats file must exist to build GlobalMVN: resolve it, and build from a patched
    # copy of the config when its path had to change.
    normalize_conf = dict(cfg.get("normalize_conf") or {})
    stats_src = None
    if stats_file is not None and "stats_file" not in normalize_conf:
        raise ExtractError(
            f"{config}: --stats_file given, but normalize={cfg.get('normalize')} takes no "
            "stats file"
        )
    if "stats_file" in normalize_conf:
        stats_src = resolve_stats_file(
            stats_file if stats_file is not None else normalize_conf["stats_file"], config
        )
    ckpt = load_checkpoint(model_file)
    with tempfile.TemporaryDirectory() as tmp:
        build_config = Path(config)
        if stats_src is not None and Path(normalize_conf["stats_file"]) != stats_src:
            patched = dict(cfg, normalize_conf=dict(normalize_conf, stats_file=str(stats_src)))
            build_config = Path(tmp) / "config.yaml"
            build_config.write_text(yaml.safe_dump(patched), encoding="utf-8")
        try:
            model, _ = S2TTask.build_model_from_file(build_config, None, "cpu")
        except (TypeError, ValueError, AssertionError, KeyError) as e:
            raise ExtractError(f"{config}: cannot build the S2T model: {e}") from e
    model_state = model.state_dict()
    check_checkpoint(model_state, ckpt, model_file, config)

    prefixes = ["encoder."]
    if model.frontend is not None and any(True for _ in model.frontend.parameters()):
        prefixes.append("frontend.")
    selected = {k: v for k, v in ckpt.items() if k.startswith(tuple(prefixes))}
    norm = {k: v for k, v in ckpt.items() if k.startswith("normalize.")}
    model.load_state_dict(selected, strict=False)  # keys and shapes checked above
    del ckpt
    for key, value in norm.items():
        built = model_state[key]
        if not torch.allclose(value.double(), built.double(), rtol=1e-4, atol=1e-6):
            raise ExtractError(
                f"stats file {stats_src} gives {key} different from the one stored in "
                f"{model_file}; pass the stats file the model was trained with "
                "(--stats_file)"
            )
    state = {k: v for k, v in model.state_dict().items() if k.startswith(tuple(prefixes))}

    echo_conf = {}
    if cfg.get("frontend") is None:
        echo_conf.update(frontend=None, frontend_conf={}, input_size=cfg.get("input_size"))
    else:
        echo_conf.update(frontend=cfg["frontend"],
                         frontend_conf=dict(cfg.get("frontend_conf") or {}))
    out_normalize_conf = dict(normalize_conf)
    if stats_src is not None:
        out_normalize_conf["stats_file"] = str(outdir / STATS_FILE)
    echo_conf.update(normalize=cfg.get("normalize"), normalize_conf=out_normalize_conf,
                     encoder=cfg["encoder"], encoder_conf=dict(cfg.get("encoder_conf") or {}))

    written = {"encoder": outdir / ENCODER_FILE, "conf": outdir / CONF_FILE}
    with atomic_path(written["encoder"]) as tmp_pth:
        torch.save(state, tmp_pth)
    if stats_src is not None:
        written["stats"] = outdir / STATS_FILE
        with atomic_path(written["stats"]) as tmp_npz:
            shutil.copyfile(stats_src, tmp_npz)
    else:
        with contextlib.suppress(FileNotFoundError):
            (outdir / STATS_FILE).unlink()  # stale copy from an earlier extraction
    inits = [f"{written['encoder']}:{p[:-1]}:{p[:-1]}" for p in prefixes]
    with atomic_open(written["conf"]) as f:
        f.write(
            f"# Encoder of the S2T model {model_file}\n# (config {config}), extracted by "
            "espnet_echo.bin.extract_owsm_encoder.\n# Paste into an Echo training config "
            "and initialise with\n#   "
            + " ".join(f"--init_param {i}" for i in inits) + "\n"
        )
        yaml.safe_dump(echo_conf, f, sort_keys=False)
    logging.info(
        f"wrote {len(state)} tensors ({sum(v.numel() for v in state.values()):,} values, "
        f"prefixes {prefixes}) to {written['encoder']}; config {written['conf']}"
    )
    return written

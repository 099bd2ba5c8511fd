# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Frozen features of a training config: its model built through the ESPnet task.

The frozen-encoder tools (the linear probes of :mod:`espnet_echo.ssl.probe`, the GMM anchor
fit of :mod:`espnet_echo.ssl.gmm_fit`) take a recipe config (``conf/pretrain_jepa*.yaml``,
``conf/train_echo*.yaml``) or the ``config.yaml`` that training wrote, and need its
frontend, normalize and encoder exactly as training builds them. The model is therefore
built by the task, as ESPnet does for inference:

1. the task is :class:`~espnet_echo.tasks.jepa.JEPATask` when every key of the config is
   one of its options, else :class:`~espnet_echo.tasks.echo.EchoTask` (a config with
   heads);
2. the config is read by the task's own parser (``--config``), whose defaults fill what a
   recipe config leaves to the command line or to the defaults, as in training;
3. the options the tool sets replace the config's (as command-line options would):
   ``normalize``/``normalize_conf``, the JEPA GMM anchor ``model_conf.gmm_file`` (not a
   part of the features, and the file does not exist yet when the anchor is being
   fitted), and for EchoTask a ``token_list`` when the config names none;
4. the full config is written to a temporary ``config.yaml`` and the model is built by
   ``<Task>.build_model_from_file`` (no checkpoint: the caller loads the weights it
   wants, see :func:`espnet_echo.ssl.probe.load_encoder_weights`), in eval mode.
"""

import argparse
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Tuple, Type, Union

import yaml
from typeguard import TypeCheckError

from espnet_echo.utils.fileio import DataFileError

if TYPE_CHECKING:  # espnet2's task machinery takes ~20 s to import: on use only
    from espnet2.tasks.abs_task import AbsTask
    from espnet2.train.abs_espnet_model import AbsESPnetModel

PathLike = Union[str, Path]


def read_feature_config(config: PathLike) -> Dict[str, Any]:
    """Read a training config whose frontend is ESPnet's ``DefaultFrontend`` (log-mel).

    Args:
        config: YAML training config.

    Returns:
        The config as a mapping.

    Raises:
        DataFileError: unreadable YAML, or a config that is not a mapping with
            ``frontend: default``; the message names the file.
    """
    try:
        with open(config, encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise DataFileError(f"{config}: cannot read the config ({e})") from e
    if not isinstance(cfg, dict) or cfg.get("frontend") != "default":
        found = cfg.get("frontend") if isinstance(cfg, dict) else None
        raise DataFileError(
            f"{config}: needs 'frontend: default' (log-mel), found {found!r}"
        )
    return cfg


def _options(task: Type["AbsTask"]) -> frozenset:
    return frozenset(action.dest for action in task.get_parser()._actions)


def config_task(cfg: Mapping[str, Any]) -> Type["AbsTask"]:
    """The task that builds a config: JEPATask if it knows every key, else EchoTask.

    Args:
        cfg: The config.

    Returns:
        :class:`JEPATask` or :class:`EchoTask` (whose parser then rejects a key neither
        task knows).
    """
    from espnet_echo.tasks.echo import EchoTask
    from espnet_echo.tasks.jepa import JEPATask

    return JEPATask if set(cfg) <= _options(JEPATask) else EchoTask


def parse_task_config(task: Type["AbsTask"], config: PathLike) -> argparse.Namespace:
    """Every option of ``task``: the config's values over the task's defaults.

    The same reading as ``<task> --config <config>`` on the command line.

    Args:
        task: ESPnet task class.
        config: YAML config.

    Returns:
        The parsed options.

    Raises:
        DataFileError: a key the task does not know; the message names the file.
    """
    parser = task.get_parser()

    def error(message: str):
        raise DataFileError(f"{config}: {task.__name__}: {message}")

    parser.error = error  # config_argparse reports through parser.error (sys.exit)
    return parser.parse_args(["--config", str(config)])


def build_feature_model(
    config: PathLike,
    cfg: Mapping[str, Any],
    normalize: Optional[str] = None,
    normalize_conf: Optional[Mapping[str, Any]] = None,
    token_list: Optional[PathLike] = None,
) -> Tuple["AbsESPnetModel", argparse.Namespace]:
    """Build the model of a training config through its task, for its features.

    Args:
        config: YAML training config (see the module docstring for how it is read).
        cfg: Its content (:func:`read_feature_config`), to choose the task.
        normalize: ``normalize`` choice of the built model (None: none).
        normalize_conf: Its ``normalize_conf``.
        token_list: EchoTask only: the token list when the config gives none (its ASR
            head needs one to be built; the head itself is not used).

    Returns:
        The model (eval mode, CPU; ``frontend``, ``normalize``, ``encoder`` attributes)
        and the full options it was built from.

    Raises:
        DataFileError: an option the task does not know, or a model the task cannot
            build from these options; the message names the config.
    """
    from espnet2.utils.yaml_no_alias_safe_dump import yaml_no_alias_safe_dump

    task = config_task(cfg)
    args = parse_task_config(task, config)
    args.normalize = normalize
    args.normalize_conf = dict(normalize_conf or {})
    if (args.model_conf or {}).get("gmm_file") is not None:  # JEPATask's GMM anchor
        args.model_conf = dict(args.model_conf, gmm_file=None)
    if token_list is not None and vars(args).get("token_list", "") is None:  # EchoTask
        args.token_list = str(token_list)
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "config.yaml"
        with open(full, "w", encoding="utf-8") as f:
            yaml_no_alias_safe_dump(vars(args), f, indent=4, sort_keys=False)
        try:
            model, built = task.build_model_from_file(full, None, "cpu")
        except (TypeError, ValueError, OSError, KeyError, TypeCheckError) as e:
            raise DataFileError(
                f"{config}: {task.__name__} cannot build the model ({e})"
            ) from e
    return model.eval(), built

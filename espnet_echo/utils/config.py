# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Read one value of a YAML (or JSON) config, for recipes written in shell.

The recipe's stage driver needs a few values of the training and pretraining configs (the
pretrained files named by ``init_param``, the GMM file named by ``model_conf.gmm_file``);
:func:`config_value` finds them and :func:`format_value` turns them into the text the
shell reads. ``espnet_echo.bin.config_get`` is the command-line front end.
"""

from pathlib import Path
from typing import Any, Dict, Sequence, Union

import yaml

PathLike = Union[str, Path]


class ConfigError(ValueError):
    """The config cannot be read, or the value cannot be written as shell text."""


def load_config(path: PathLike) -> Dict[str, Any]:
    """``yaml.safe_load`` of ``path``; an empty file is ``{}``.

    Raises:
        ConfigError: missing file, invalid YAML, or a top level that is not a mapping;
            the message names the file.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            config = yaml.safe_load(f)
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: config not found") from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML ({e})") from e
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise ConfigError(
            f"{path}: expected a mapping at the top level, got {type(config).__name__}"
        )
    return config


def config_value(config: Any, keys: Sequence[str]) -> Any:
    """The value under the nested ``keys`` of ``config``; ``None`` where any is unset.

    A key that meets a non-mapping on the way (``model_conf: null``, a list) is unset too,
    so a recipe can ask for ``model_conf gmm_file`` of every config alike.
    """
    value = config
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _scalar_text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"  # as the recipes' options spell booleans
    if isinstance(value, (int, float, str)):
        text = str(value)
        if "\n" in text:
            raise ConfigError(f"{where}: a multi-line string cannot be one shell value")
        return text
    raise ConfigError(
        f"{where}: is a {type(value).__name__}; name a key inside it"
        if isinstance(value, dict)
        else f"{where}: cannot write a {type(value).__name__} as shell text"
    )


def format_value(value: Any, where: str = "value") -> str:
    """Shell text of a value: empty for unset, ``true``/``false`` for booleans, a list
    one item a line; a mapping (or a list holding one) is an error.

    Args:
        value: What :func:`config_value` returned.
        where: Names the value in error messages (e.g. ``conf.yaml: model_conf``).

    Raises:
        ConfigError: the value is a mapping, holds one, or is a multi-line string.
    """
    if isinstance(value, (list, tuple)):
        return "\n".join(_scalar_text(v, f"{where}[{i}]") for i, v in enumerate(value))
    return _scalar_text(value, where)

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Command-line helpers shared by the ``espnet_echo.bin`` tools.

* ``--log_level`` and ESPnet's logging format (:func:`add_log_level_argument`,
  :func:`setup_logging`);
* :func:`exit_on_error`: the expected errors of a tool (bad data, bad options) become one
  ``<tool>: error: <message>`` line on stderr and exit status 1, not a traceback;
* :func:`parse_args_with_config`: a ``--config`` YAML whose keys are flag names, checked
  and converted like the flags themselves; flags on the command line override it;
* :func:`task_cli`: the ``get_parser``/``main`` pair of a training tool that runs an
  ESPnet task (``echo_train``, ``jepa_train``).
"""

import argparse
import contextlib
import logging
import sys
from typing import Any, Callable, Dict, Iterator, Optional, Sequence, Tuple, Type

import yaml

LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
LOG_FORMAT = "%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"


def add_log_level_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--log_level`` (case-insensitive, default INFO) to ``parser``."""
    parser.add_argument(
        "--log_level", type=lambda x: x.upper(), default="INFO", choices=LOG_LEVELS,
        help="Log level",
    )


def setup_logging(level: str) -> None:
    """Configure the root logger with ESPnet's message format."""
    logging.basicConfig(level=level, format=LOG_FORMAT)


@contextlib.contextmanager
def exit_on_error(
    prog: str, errors: Tuple[Type[BaseException], ...] = (ValueError,)
) -> Iterator[None]:
    """Turn ``errors`` raised inside the block into ``sys.exit("<prog>: error: <message>")``.

    The messages of these errors name the file and line at fault, so the traceback
    would add nothing for the user; other exceptions propagate unchanged.

    Args:
        prog: Tool name that starts the message.
        errors: Exception types to convert.

    Raises:
        SystemExit: with the message as its code (printed on stderr, exit status 1).
    """
    try:
        yield
    except errors as e:
        sys.exit(f"{prog}: error: {e}")


def _coerce(action: argparse.Action, key: str, value: Any, path: str) -> Any:
    """Check and convert one YAML value like argparse would convert the flag."""

    def one(v: Any) -> Any:
        if isinstance(v, (list, dict)) or v is None or isinstance(v, bool):
            raise ValueError(f"bad value {v!r}")
        out = action.type(v) if action.type is not None else v
        if action.choices is not None and out not in action.choices:
            raise ValueError(f"{out!r} is not one of {list(action.choices)}")
        return out

    try:
        if action.nargs is None:
            return one(value)
        if value is None and action.default is None:
            return None
        if not isinstance(value, list):
            raise ValueError(f"expected a list, got {value!r}")
        if isinstance(action.nargs, int) and len(value) != action.nargs:
            raise ValueError(f"expected {action.nargs} values, got {len(value)}")
        if action.nargs == "+" and not value:
            raise ValueError("expected at least one value")
        return [one(v) for v in value]
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: key '{key}': {e}") from None


def load_flag_config(path: str, parser: argparse.ArgumentParser) -> Dict[str, Any]:
    """Read a YAML config whose keys are the flag names of ``parser`` (without ``--``).

    Each value is checked and converted like the flag's command-line value (type,
    choices, number of values); unlike ESPnet's ``config_argparse``, a wrong type is an
    error here rather than passed through.

    Args:
        path: The YAML file.
        parser: The parser whose flags the keys name.

    Returns:
        ``{dest: value}``; an empty file gives ``{}``.

    Raises:
        ValueError: unreadable file, not a mapping, unknown key (named), or bad value;
            the message names the file.
    """
    try:
        with open(path, encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: cannot read config: {e}") from None
    if cfg is None:
        return {}
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: config must be a mapping of flag names to values")
    actions = {a.dest: a for a in parser._actions if a.dest not in ("help", "config")}
    out = {}
    for key, value in cfg.items():
        if key not in actions:
            raise ValueError(
                f"{path}: unknown key '{key}' (known: {', '.join(sorted(actions))})"
            )
        out[key] = _coerce(actions[key], key, value, path)
    return out


def parse_args_with_config(
    parser: argparse.ArgumentParser, argv: Optional[Sequence[str]] = None
) -> argparse.Namespace:
    """Parse ``argv``, with the values of its ``--config`` YAML as defaults under the flags.

    Args:
        parser: A parser with a ``--config`` option (default None).
        argv: Command line (None: ``sys.argv[1:]``).

    Returns:
        The parsed flags.

    Raises:
        SystemExit: a bad flag or config (``parser.error``: usage and message on
            stderr, exit status 2).
    """
    args = parser.parse_args(argv)
    if args.config:
        try:
            cfg = load_flag_config(args.config, parser)
        except ValueError as e:
            parser.error(str(e))
        parser.set_defaults(**cfg)
        args = parser.parse_args(argv)
    return args


def task_cli(
    task: Type[Any],
) -> Tuple[Callable[[], argparse.ArgumentParser], Callable[[Optional[Sequence[str]]], None]]:
    """``get_parser`` and ``main`` of a bin tool that trains through an ESPnet task.

    The tool takes every option of ESPnet's trainer (``--ngpu``, ``--resume``,
    ``--init_param``, ``--collect_stats``...). Run it as a module
    (``python -m espnet_echo.bin.<tool>``): spawned multi-GPU workers re-import the task
    module, which registers the plugin classes again.

    Args:
        task: An ESPnet ``AbsTask`` subclass (``EchoTask``, ``JEPATask``).

    Returns:
        ``(get_parser, main)``: ``get_parser()`` is ``task.get_parser()``;
        ``main(cmd=None)`` runs ``task.main(cmd=cmd)``.
    """

    def get_parser() -> argparse.ArgumentParser:
        return task.get_parser()

    def main(cmd: Optional[Sequence[str]] = None) -> None:
        task.main(cmd=cmd)

    get_parser.__doc__ = f"The argument parser of {task.__name__}."
    main.__doc__ = (
        f"Run ``{task.__name__}.main`` (e.g. ``--print_config --optim adam``)."
    )
    return get_parser, main

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Errors raised by the corpus simulator, and the check for the external binaries it uses."""

import shutil

# Debian package that provides each external binary the simulator calls.
DEBIAN_PACKAGES = {"bible": "bible-kjv", "flite": "flite", "espeak-ng": "espeak-ng"}


class SimulateError(RuntimeError):
    """The corpus cannot be built; the message says what is wrong and how to fix it."""


class MissingBinaryError(SimulateError):
    """An external program (TTS engine, text source) is not on ``PATH``."""


class UnknownVoiceError(SimulateError):
    """A speaker names a voice that the TTS engine does not provide."""


def require_binary(name: str) -> str:
    """Return the full path of executable ``name`` or raise naming the package to install.

    Args:
        name: Executable looked up on ``PATH`` (e.g. ``"flite"``).

    Returns:
        Absolute path of the executable.

    Raises:
        MissingBinaryError: ``name`` is not on ``PATH``; the message names the Debian package.
    """
    path = shutil.which(name)
    if path is None:
        package = DEBIAN_PACKAGES.get(name, name)
        raise MissingBinaryError(
            f"required program '{name}' not found on PATH; install the Debian package "
            f"'{package}' (sudo apt-get install {package}) or run tools/install.sh"
        )
    return path

# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Make espnet-echo's components selectable from ESPnet's own tasks.

ESPnet (202611 included) has no plugin mechanism: every task keeps module-level ``ClassChoices``
tables whose ``--<name>`` choices are frozen when the parser is built. ``register()``
inserts the plugin classes into those tables (including the deep copies that
``espnet2.tasks.enh_s2t`` makes at import), so e.g. ``espnet2.bin.asr_train --encoder
echo_vit`` works. Every espnet_echo task, bin and inference module calls it at import, so
packed models load in a fresh process and DDP spawn children (which re-import the task
module) see the classes too.
"""

import importlib
from typing import Dict, List, Tuple

# (module, ClassChoices attribute) -> plugin name -> "module:Class"
_ENCODER = {"echo_vit": "espnet_echo.encoder.echo_vit:EchoViTEncoder"}
_CODEC = {"jepa_fsq": "espnet_echo.codec.jepa_fsq:JEPAFSQCodec"}
_TABLES: List[Tuple[str, str, Dict[str, str]]] = [
    ("espnet2.tasks.asr", "encoder_choices", _ENCODER),
    ("espnet2.tasks.diar", "encoder_choices", _ENCODER),
    ("espnet2.tasks.s2t", "encoder_choices", _ENCODER),
    ("espnet2.tasks.ssl", "encoder_choices", _ENCODER),
    ("espnet2.tasks.st", "encoder_choices", _ENCODER),
    ("espnet2.tasks.enh_s2t", "asr_encoder_choices", _ENCODER),
    ("espnet2.tasks.enh_s2t", "st_encoder_choices", _ENCODER),
    ("espnet2.tasks.enh_s2t", "diar_encoder_choices", _ENCODER),
    ("espnet2.tasks.gan_codec", "codec_choices", _CODEC),
]

_done = False


def _load(spec: str):
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def register() -> None:
    """Insert the plugin classes into ESPnet's ClassChoices tables. Idempotent."""
    global _done
    if _done:
        return
    for module, attr, entries in _TABLES:
        choices = getattr(importlib.import_module(module), attr)
        for name, spec in entries.items():
            cls = _load(spec)
            current = choices.classes.get(name)
            if current is not None and current is not cls:
                raise RuntimeError(
                    f"{module}.{attr} already has a different class named {name!r}: {current}"
                )
            choices.classes[name] = cls
    _done = True


def registered() -> Dict[str, List[str]]:
    """``{"module.attr": [plugin names present]}`` for diagnostics and tests."""
    out = {}
    for module, attr, entries in _TABLES:
        choices = getattr(importlib.import_module(module), attr)
        out[f"{module}.{attr}"] = [n for n in entries if n in choices.classes]
    return out

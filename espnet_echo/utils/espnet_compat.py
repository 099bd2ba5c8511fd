# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Fixes for ESPnet 202511 bugs that the plugin's data path hits, applied by register().

``espnet2.fileio.rttm.load_rttm_text`` is decorated with ``@typechecked`` but annotated
with the wrong return type (espnet/espnet#5968, open): under typeguard 4 every valid
``espnet_rttm`` file raises a TypeError, so ESPnet's ``rttm`` data type cannot load. The
replacement below parses the same format (and keeps the upstream behaviour) with a correct
annotation; ``RttmReader`` looks the name up at call time, so rebinding it is enough.
"""

import re
from pathlib import Path
from typing import Dict, List, Tuple, Union

RttmData = Dict[str, Tuple[List[str], List[Tuple[str, int, int]], int]]


def load_rttm_text(path: Union[Path, str]) -> RttmData:
    """Read an ESPnet sample-level RTTM: ``{utt: (speakers, events, num_samples)}``.

    Raises:
        ValueError: a line without 9 fields or with an unknown label type; the message
            names ``path:line``.
    """
    data: RttmData = {}
    with Path(path).open("r", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            fields = re.split(" +", line.rstrip())
            if len(fields) != 9:
                raise ValueError(f"{path}:{lineno}: expected 9 fields, got {len(fields)}")
            label_type, utt_id, _, start, end, _, _, spk_id, _ = fields
            if label_type not in ("SPEAKER", "END"):
                raise ValueError(f"{path}:{lineno}: unknown label type {label_type!r}")
            spk_list, events, num_samples = data.get(utt_id, ([], [], 0))
            if label_type == "END":
                data[utt_id] = (spk_list, events, int(end))
                continue
            if spk_id not in spk_list:
                spk_list.append(spk_id)
            events = events + [(spk_id, int(float(start)), int(float(end)))]
            data[utt_id] = (spk_list, events, num_samples)
    return data


UPSTREAM = {}  # the replaced ESPnet functions, kept so tests can track the upstream bug


def apply() -> None:
    """Rebind the fixed functions inside ESPnet's modules. Idempotent."""
    import espnet2.fileio.rttm as rttm

    if rttm.load_rttm_text is not load_rttm_text:
        UPSTREAM["load_rttm_text"] = rttm.load_rttm_text
        rttm.load_rttm_text = load_rttm_text

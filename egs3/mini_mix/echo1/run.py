#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""espnet3 recipe: the joint Echo model (``EchoTask``) trained by espnet3's Lightning trainer.

    python run.py --training_config conf/training.yaml  # create_dataset, collect_stats, train
    python run.py --stages train --training_config conf/training.yaml

Decoding and scoring stay with the egs2 recipe's tools (README.md).
"""

from espnet3.systems.base.system import BaseSystem
from espnet3.systems.launch import launch

#: Defaults under every training config: espnet3's template for systems whose ``task:`` is
#: an ESPnet2 task class. (launch() would derive ``egs3.TEMPLATE.<system>`` from the
#: system's module, which names no installed package here.)
CONF_PACKAGE = "egs3.TEMPLATE.esp2_asr"


class EchoSystem(BaseSystem):
    """BaseSystem's training stages; ``infer``/``measure`` need an espnet3 inference
    provider for EchoTask, which does not exist (egs2's stage 7-8 tools decode and score)."""

    stages = tuple(s for s in BaseSystem.stages
                   if s.name in ("create_dataset", "collect_stats", "train"))


if __name__ == "__main__":  # collect_stats/train workers re-import this file
    launch(EchoSystem, conf_package=CONF_PACKAGE)

#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""JEPA self-supervised pretraining of a speech encoder through ESPnet's trainer.

``python -m espnet_echo.bin.jepa_train --config conf/pretrain_jepa.yaml ...`` takes every
option of ESPnet's trainer (``--ngpu``, ``--multiprocessing_distributed``, ``--resume``,
``--init_param``, ``--collect_stats``...); the only data name is ``speech``. The
pretrained encoder is the EMA target: the joint model takes it with
``python -m espnet_echo.bin.echo_train ... --init_param
<exp>/valid.loss.ave.pth:target_encoder:encoder`` (same ``encoder``/``encoder_conf`` and
``frontend_conf``). Running it as a module matters for multi-GPU: spawned workers
re-import ``espnet_echo.tasks.jepa``, which registers the plugin classes again.
"""

from espnet_echo.tasks.jepa import JEPATask
from espnet_echo.utils.cli import task_cli

get_parser, main = task_cli(JEPATask)

if __name__ == "__main__":
    main()

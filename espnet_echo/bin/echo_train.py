#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Train (or collect stats for) the joint Echo model through ESPnet's trainer.

``python -m espnet_echo.bin.echo_train --config conf/train.yaml ...`` takes every option of
ESPnet's trainer (``--ngpu``, ``--multiprocessing_distributed``, ``--resume``,
``--init_param``, ``--freeze_param``, ``--collect_stats``...). Running it as a module
matters for multi-GPU: spawned workers re-import ``espnet_echo.tasks.echo``, which
registers the plugin classes again.
"""

from espnet_echo.tasks.echo import EchoTask
from espnet_echo.utils.cli import task_cli

get_parser, main = task_cli(EchoTask)

if __name__ == "__main__":
    main()

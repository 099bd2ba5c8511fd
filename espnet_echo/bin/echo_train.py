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


def get_parser():
    """The argument parser of the Echo task."""
    return EchoTask.get_parser()


def main(cmd=None):
    """Run ``EchoTask.main``.

    Example:
        % python -m espnet_echo.bin.echo_train --print_config --optim adam
    """
    EchoTask.main(cmd=cmd)


if __name__ == "__main__":
    main()

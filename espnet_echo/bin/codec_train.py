#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Train the JEPA + DAAM speech tokenizer with ESPnet's own GAN codec task.

``python -m espnet_echo.bin.codec_train --config conf/train_codec.yaml ...`` is
``espnet2.bin.gan_codec_train`` (``GANCodecTask``, ``GANTrainer``; every trainer option:
``--ngpu``, ``--multiprocessing_distributed``, ``--resume``, ``--init_param``...) after
:func:`espnet_echo.registry.register` has put ``--codec jepa_fsq`` into ESPnet's
``codec_choices``. Running it as a module matters for multi-GPU: spawned workers re-import
this module, which registers the plugin classes again.
"""

from espnet2.tasks.gan_codec import GANCodecTask
from espnet_echo import registry
from espnet_echo.utils.cli import task_cli

registry.register()
get_parser, main = task_cli(GANCodecTask)

if __name__ == "__main__":
    main()

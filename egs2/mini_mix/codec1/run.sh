#!/usr/bin/env bash
# Copyright 2026 espnet-echo developers
#  Apache 2.0
# Mini recipe of the JEPA + DAAM speech tokenizer (issue 16) on ../echo1's corpus: reuses its
# data and its stage-5 GMM-anchored JEPA + DAAM encoder (running ../echo1 stages 1-5 when they
# are missing), trains the codec (conf/train_codec.yaml: 12.5 Hz, 8 x [8,5,5,5] FSQ, 996.6 bit/s,
# mel loss only, a few minutes on 2 CPU cores), encodes/decodes the test utterances and scores
# them beside Codec2 700C/1200/3200 and Opus 6/8 kbit/s. The paper-size config (2.5 Hz,
# 19 x [8,5,5,5], 47.5 tokens/s, adversarial training) is conf/tuning/train_codec_paper.yaml:
#   ./run.sh --train_config conf/tuning/train_codec_paper.yaml --ngpu 1
set -euo pipefail
./codec.sh --train_config conf/train_codec.yaml --results RESULTS.md "$@"

#!/usr/bin/env bash
# Copyright 2026 espnet-echo developers
#  Apache 2.0
# Offline mini recipe: synthesised 1-3 speaker mixtures; trains Echo, the UME
# E-Branchformer baseline (same heads, data, steps, batch) and the RWSE-vs-last ablation,
# then scores all of them beside the oracle and one-speaker references.
set -euo pipefail

train_configs="conf/train_echo.yaml conf/train_ume_ebf.yaml conf/train_echo_last.yaml"

./echo.sh \
    --num_spk 3 \
    --token_type char \
    --train_configs "${train_configs}" \
    --local_data_opts "--num_train 600 --num_dev 60 --num_test 100 --max_spk 3" \
    --results RESULTS.md \
    "$@"

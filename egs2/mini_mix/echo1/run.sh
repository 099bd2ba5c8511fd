#!/usr/bin/env bash
# Copyright 2026 espnet-echo developers
#  Apache 2.0
# Offline mini recipe: synthesised 1-3 speaker mixtures of short KJV sentences.
#  - stage 5 pretrains the Echo encoder with GMM-anchored JEPA + DAAM (no labels) and
#    probes it and a random-init encoder;
#  - stage 6 trains Echo (random init), the UME E-Branchformer baseline, the RWSE-vs-last
#    ablation and Echo from the pretrained encoder: same heads, data, steps and batch;
#  - stages 7-8 decode and score them beside the oracle and one-speaker references.
# --pretrain_ablation true adds plain JEPA and GMM-anchored JEPA without DAAM (pretraining,
# probes and downstream models), for the random / JEPA / GMM-JEPA / GMM-JEPA+DAAM table.
set -euo pipefail

pretrain_ablation=false
for arg in "$@"; do
    if [ "${arg}" = --help ] || [ "${arg}" = -h ]; then
        cat >&2 << EOF
Usage: $0 [--pretrain_ablation true|false] [echo.sh options]

Options of this recipe:
    --pretrain_ablation  # Add plain JEPA and GMM-JEPA without DAAM; must come first (default="${pretrain_ablation}").

Every other option goes to echo.sh after the recipe's own settings (--num_spk 3
--token_type char --gmm_components 64 --local_data_opts "--num_train 1000 --num_dev 60
--num_test 100 --max_spk 3 --max_words 8" and its pretraining and training configs), so
it overrides them. echo.sh's options (the defaults shown are echo.sh's own):
EOF
        ./echo.sh --help
        exit 0
    fi
done
if [ "${1:-}" = "--pretrain_ablation" ]; then
    pretrain_ablation=$2
    shift 2
fi

pretrain_configs="conf/pretrain_jepa_gmm_daam.yaml"
train_configs="conf/train_echo.yaml conf/train_ume_ebf.yaml conf/train_echo_last.yaml"
train_configs+=" conf/train_echo_jepa_gmm_daam.yaml"
if [ "${pretrain_ablation}" = true ]; then
    pretrain_configs="conf/pretrain_jepa.yaml conf/pretrain_jepa_gmm.yaml ${pretrain_configs}"
    train_configs+=" conf/train_echo_jepa.yaml conf/train_echo_jepa_gmm.yaml"
fi

./echo.sh \
    --num_spk 3 \
    --token_type char \
    --pretrain_configs "${pretrain_configs}" \
    --gmm_components 64 \
    --train_configs "${train_configs}" \
    --local_data_opts "--num_train 1000 --num_dev 60 --num_test 100 --max_spk 3 --max_words 8" \
    --results RESULTS.md \
    "$@"

#!/usr/bin/env bash
# Copyright 2026 espnet-echo developers
#  Apache 2.0
# Offline mini recipe: synthesised 1-3 speaker mixtures of short KJV sentences.
#  - stage 5 pretrains the Echo encoder with GMM-anchored JEPA + DAAM (no labels) and
#    probes it and a random-init encoder;
#  - stage 6 trains Echo (random init), the UME E-Branchformer baseline and Echo from the
#    pretrained encoder: same heads (EEND, TasNet, multi-speaker ASR, ArcFace speaker
#    embeddings), data, steps and batch;
#  - stages 7-8 decode the test mixtures and the test conversations (1-2.5 min, 2-5
#    unseen speakers) with EEND and with ArcFace+VBx blind diarization, score them beside
#    the oracle and one-speaker references, and run the factorisation probe;
#  - stage 9 packs each model (exp/<model>/packed/<model>.zip, with a model card); stage 10
#    publishes one only when given --hf_repo owner/name.
# --ablations true adds the RWSE-vs-last-layer ablation (Echo, last layer).
# --pretrain_ablation true adds plain JEPA and GMM-anchored JEPA without DAAM (pretraining,
# probes and downstream models), for the random / JEPA / GMM-JEPA / GMM-JEPA+DAAM table.
# --staged true runs Echo's evaluation protocol instead of the default models: Echo built
# in stages (conf/staged/staged_s1..s4: content CTC under the JEPA anchor -> FSQ bottleneck
# -> ArcFace speaker path -> K-set routing; each stage --init_param from the previous),
# the same heads trained jointly in one run on Echo and on E-Branchformer, decoded with
# VBx, scored into RESULTS_staged.md with the protocol table (stage 8).
# --reference true trains the CPU reference models instead (issue 12): Echo and the UME
# E-Branchformer baseline with the default heads for up to 30 epochs each
# (conf/tuning/train_{echo,ume_ebf}_reference.yaml, every epoch kept for
# espnet_echo.bin.learning_curve), decoded and scored into RESULTS_reference.md.
set -euo pipefail

pretrain_ablation=false
ablations=false
staged=false
reference=false
for arg in "$@"; do
    if [ "${arg}" = --help ] || [ "${arg}" = -h ]; then
        cat >&2 << EOF
Usage: $0 [--ablations true|false] [--pretrain_ablation true|false] [--staged true|false] [--reference true|false] [echo.sh options]

Options of this recipe (before any echo.sh option):
    --ablations          # Add the RWSE-vs-last-layer ablation model (default="${ablations}").
    --pretrain_ablation  # Add plain JEPA and GMM-JEPA without DAAM (default="${pretrain_ablation}").
    --staged             # Echo's protocol: staged Echo, joint Echo, joint E-Branchformer
                         # (conf/staged/) instead of the default models, into
                         # RESULTS_staged.md (default="${staged}").
    --reference          # CPU reference run: Echo and UME E-Branchformer for up to 30
                         # epochs each (conf/tuning/*_reference.yaml) instead of the
                         # default models, into RESULTS_reference.md (default="${reference}").

Every other option goes to echo.sh after the recipe's own settings (--num_spk 3
--token_type char --gmm_components 64 --local_data_opts "--num_train 1000 --num_dev 60
--num_test 100 --max_spk 3 --max_words 8", --test_sets "test test_conv", --probe_set
probe, --diar_modes "eend vbx", --data_licence and its pretraining and training configs), so it
overrides them. echo.sh's options (the defaults shown are echo.sh's own):
EOF
        ./echo.sh --help
        exit 0
    fi
done
while [ "${1:-}" = "--pretrain_ablation" ] || [ "${1:-}" = "--ablations" ] || [ "${1:-}" = "--staged" ] || [ "${1:-}" = "--reference" ]; do
    [ $# -ge 2 ] || { echo "$0: $1 needs a value (true or false)" >&2; exit 2; }
    case "$2" in true|false) ;; *) echo "$0: $1 takes true or false, got '$2'" >&2; exit 2 ;; esac
    case "$1" in
        --ablations) ablations=$2 ;;
        --staged) staged=$2 ;;
        --reference) reference=$2 ;;
        *) pretrain_ablation=$2 ;;
    esac
    shift 2
done

pretrain_configs="conf/pretrain_jepa_gmm_daam.yaml"
train_configs="conf/train_echo.yaml conf/train_ume_ebf.yaml conf/train_echo_jepa_gmm_daam.yaml"
if [ "${ablations}" = true ]; then
    train_configs+=" conf/train_echo_last.yaml"
fi
if [ "${pretrain_ablation}" = true ]; then
    pretrain_configs="conf/pretrain_jepa.yaml conf/pretrain_jepa_gmm.yaml ${pretrain_configs}"
    train_configs+=" conf/train_echo_jepa.yaml conf/train_echo_jepa_gmm.yaml"
fi
results=RESULTS.md
if [ "${staged}" = true ]; then
    # in this order: each stage initialises from the one before it
    train_configs="conf/staged/staged_s1_content.yaml conf/staged/staged_s2_bottleneck.yaml"
    train_configs+=" conf/staged/staged_s3_spk.yaml conf/staged/staged_s4_kset.yaml"
    train_configs+=" conf/staged/joint_echo.yaml conf/staged/joint_ebf.yaml"
    results=RESULTS_staged.md
fi
if [ "${reference}" = true ]; then
    [ "${staged}" = true ] && { echo "$0: --staged and --reference are two different runs; give one" >&2; exit 2; }
    if [ "${ablations}" = true ] || [ "${pretrain_ablation}" = true ]; then
        echo "$0: --reference trains only the two reference models; drop --ablations/--pretrain_ablation" >&2
        exit 2
    fi
    train_configs="conf/tuning/train_echo_reference.yaml conf/tuning/train_ume_ebf_reference.yaml"
    results=RESULTS_reference.md
fi
protocol_opts=()
[ "${staged}" = true ] && protocol_opts=(--protocol true)

./echo.sh \
    --num_spk 3 \
    --token_type char \
    --pretrain_configs "${pretrain_configs}" \
    --gmm_components 64 \
    --train_configs "${train_configs}" \
    --local_data_opts "--num_train 1000 --num_dev 60 --num_test 100 --max_spk 3 --max_words 8" \
    --test_sets "test test_conv" \
    --probe_set probe \
    --diar_modes "eend vbx" \
    --results "${results}" \
    ${protocol_opts[@]+"${protocol_opts[@]}"} \
    --data_licence "synthesised by local/data.sh with flite and espeak-ng voices from the King James Version of the Bible (public-domain text); no further restriction" \
    "$@"

#!/usr/bin/env bash
# Issue 12, "ASR initialised from single-speaker CTC" (README, "Learning faster"):
#   1. make_subset --sources: the clean sources of dump/raw/{train,dev} as one-speaker
#      utterances (dump/raw/{train,dev}_src);
#   2. the content path with one slot (conf/train_echo_content_none.yaml, --num_spk 1) on
#      them, from the stage-5 JEPA target -> exp/echo_train_echo_content_none_src;
#   3. the content path with three PIT slots on the 1-3-speaker mixtures initialised from
#      step 2 (conf/tuning/train_echo_content_none_srcinit.yaml)
#      -> exp/echo_train_echo_content_none_srcinit,
#   4. and, for the side-by-side, the same from the JEPA target
#      (conf/train_echo_content_none.yaml) -> exp/echo_train_echo_content_none;
#   5. each trained model (its last epoch: the CTC valid loss rises while the CER still
#      falls) decoded on dump/raw/test and scored (per K).
# Every run is one thread, resumable (--resume true) and skipped when it has its last epoch.
# Needs make mini's stages 1-5 (data, token list, statistics, the JEPA encoder).
# Usage: local/asr_init_experiment.sh [--src_epochs N (12)] [--mix_epochs N (16)]
set -euo pipefail
src_epochs=12
mix_epochs=16
while [ $# -gt 0 ]; do
    case "$1" in
        --src_epochs|--mix_epochs)
            [ $# -ge 2 ] && [[ "$2" =~ ^[1-9][0-9]*$ ]] \
                || { echo "$0: $1 takes a positive integer, got '${2:-}'" >&2; exit 2; }
            if [ "$1" = --src_epochs ]; then src_epochs=$2; else mix_epochs=$2; fi
            shift 2 ;;
        *) echo "Usage: $0 [--src_epochs N] [--mix_epochs N]" >&2; exit 2 ;;
    esac
done
# shellcheck disable=SC1091
. ./path.sh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
for f in dump/raw/train/wav.scp data/token_list/char/tokens.txt exp/stats_fbank/train/feats_stats.npz \
         exp/jepa_pretrain_jepa_gmm_daam/latest.pth; do
    [ -f "${f}" ] || { echo "$0: ${f} not found: run make mini (stages 1-5) first" >&2; exit 1; }
done
for s in train dev; do
    [ -f "dump/raw/${s}_src/subset.json" ] || \
        python -m espnet_echo.bin.make_subset --data_dir "dump/raw/${s}" --out_dir "dump/raw/${s}_src" --sources
done

train() {  # train <config> <exp dir> <epochs> <num_spk> <train dir> <valid dir> <shape args...>
    local config=$1 dir=$2 epochs=$3 nspk=$4 tr=$5 va=$6
    shift 6
    if [ -f "${dir}/${epochs}epoch.pth" ]; then echo "${dir}: trained"; return; fi
    mkdir -p "${dir}/log"
    local opts=() kind d n
    for kind in train valid; do
        d=${tr}; [ "${kind}" = valid ] && d=${va}
        opts+=(--"${kind}"_data_path_and_name_and_type "${d}/wav.scp,speech,sound")
        for n in $(seq 1 "${nspk}"); do
            opts+=(--"${kind}"_data_path_and_name_and_type "${d}/text_spk${n},text_spk${n},text")
        done
    done
    # the log is appended to, so a resumed run keeps its earlier epochs (for the curves)
    [ -f "${dir}/checkpoint.pth" ] && echo "# $(date '+%Y-%m-%dT%H:%M:%S') resumed" >> "${dir}/log/train.log"
    python -m espnet_echo.bin.echo_train --config "${config}" \
        --token_list data/token_list/char/tokens.txt --token_type char --num_spk "${nspk}" \
        --normalize global_mvn --normalize_conf stats_file=exp/stats_fbank/train/feats_stats.npz \
        "${opts[@]}" "$@" --max_epoch "${epochs}" --keep_nbest_models "${epochs}" \
        --ngpu 0 --seed 0 --resume true --output_dir "${dir}" >> "${dir}/log/train.log" 2>&1 \
        || { echo "$0: training failed; see ${dir}/log/train.log" >&2; exit 1; }
}
mix_shapes=(--train_shape_file exp/stats_fbank/train/speech_shape --valid_shape_file exp/stats_fbank/valid/speech_shape)
train conf/train_echo_content_none.yaml exp/echo_train_echo_content_none_src "${src_epochs}" 1 \
    dump/raw/train_src dump/raw/dev_src \
    --train_shape_file dump/raw/train_src/utt2num_samples --valid_shape_file dump/raw/dev_src/utt2num_samples
train conf/tuning/train_echo_content_none_srcinit.yaml exp/echo_train_echo_content_none_srcinit \
    "${mix_epochs}" 3 dump/raw/train dump/raw/dev "${mix_shapes[@]}"
train conf/train_echo_content_none.yaml exp/echo_train_echo_content_none "${mix_epochs}" 3 \
    dump/raw/train dump/raw/dev "${mix_shapes[@]}"
for dir in exp/echo_train_echo_content_none_src exp/echo_train_echo_content_none_srcinit exp/echo_train_echo_content_none; do
    out=${dir}/decode_test
    python -m espnet_echo.bin.echo_inference --train_config "${dir}/config.yaml" \
        --model_file "${dir}/latest.pth" --data_dir dump/raw/test --output_dir "${out}" \
        --num_threads 1 > "${dir}/log/decode_test.log" 2>&1
    python -m espnet_echo.bin.score --ref_dir dump/raw/test --hyp_dir "${out}" --out_dir "${out}/score" \
        --name "$(basename "${dir}")/test" >> "${dir}/log/decode_test.log" 2>&1
    echo "${out}/score/scores.json"
done

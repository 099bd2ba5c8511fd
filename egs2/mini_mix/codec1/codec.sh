#!/usr/bin/env bash
# Copyright 2026 espnet-echo developers
#  Apache 2.0
# Stage driver of the JEPA + DAAM speech tokenizer recipe (ESPnet egs2 style).
#
#  1 data      single-speaker sets from ${echo_dir}: data/<set>/wav.scp = its spk1.scp (the clean
#              sources of the mixtures), utt2num_samples; data/<valid_set>_sub (first
#              ${valid_max_utts} utterances, validation); runs ${echo_dir}'s stage 1 if its
#              data is missing
#  2 pretrain  the stage-5 GMM-anchored JEPA + DAAM encoder of ${echo_dir}: used as is when
#              ${pretrain_ckpt} exists, else ${echo_dir}/run.sh --stage 1 --stop_stage 5
#  3 train     espnet_echo.bin.codec_train (ESPnet GANCodecTask + GANTrainer, --codec jepa_fsq),
#              encoder and feature statistics from ${pretrain_ckpt} through --init_param
#                                                     -> exp/codec_<config>/
#  4 encode    espnet_echo.bin.codec_encode of each test set -> exp/codec_<config>/tokens_<set>/
#  5 decode    espnet_echo.bin.codec_decode                  -> exp/codec_<config>/decode_<set>/
#  6 score     espnet_echo.bin.codec_score beside Codec2 700C/1200/3200 and Opus 6/8 kbit/s,
#              with the speaker similarity of ${spk_model_dir}'s speaker head when that model
#              exists -> exp/codec_<config>/scores_<set>/scores.{md,json}, ${results}
#  7 curve     only with --curve true: STOI/PESQ/MCD of every epoch checkpoint on the first
#              ${curve_max_utts} utterances of the first test set -> exp/codec_<config>/curve/
# Every stage is idempotent (training resumes; encode/decode keep the utterances their
# .stamp.json shows were made by the same checkpoint from unchanged input, and redo the
# others) and can be re-run alone with --stage N --stop_stage N. After a retraining that
# changed ${model_file}, stages 4/5 refuse the old tokens_<set>/decode_<set> dirs (they would
# mix two checkpoints): remove them first.
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') ($(basename "$0"):${BASH_LINENO[0]}) $*"; }

stage=1
stop_stage=10000
python=python3
echo_dir=../echo1          # recipe whose data and stage-5 encoder are reused
pretrain_ckpt=../echo1/exp/jepa_pretrain_jepa_gmm_daam/latest.pth
train_set=train
valid_set=dev
valid_max_utts=20
test_sets="test"
train_config=conf/train_codec.yaml
train_args=""              # extra args of codec_train, e.g. "--max_epoch 1"
ngpu=0
model_file=valid.mel_loss.best.pth
score_max_utts=""          # empty: every test utterance
spk_model_dir=../echo1/exp/echo_train_echo  # Echo model whose speaker head scores speaker similarity
spk_model_file=valid.loss.ave.pth
curve=false
curve_max_utts=20
results=RESULTS.md

help_message=$(cat << EOF
Usage: $0 [options]
    --stage / --stop_stage  # Stages to run (default ${stage}..${stop_stage}).
    --python                # Python command (default="${python}").
    --echo_dir              # Recipe whose data dirs and stage-5 encoder are reused (default="${echo_dir}").
    --pretrain_ckpt         # Stage-5 JEPA + DAAM checkpoint (default="${pretrain_ckpt}").
    --train_set/--valid_set # (default="${train_set}"/"${valid_set}").
    --valid_max_utts        # Validation utterances (default="${valid_max_utts}").
    --test_sets             # Sets encoded, decoded and scored (default="${test_sets}").
    --train_config          # Codec config (default="${train_config}").
    --train_args            # Extra codec_train args (default="${train_args}").
    --ngpu                  # GPUs; > 1: ESPnet's trainer spawns one DDP process per GPU (default="${ngpu}").
    --model_file            # Checkpoint used for encoding/decoding (default="${model_file}").
    --score_max_utts        # Score the first N test utterances; empty: all (default="${score_max_utts}").
    --spk_model_dir         # Echo model (config.yaml + --spk_model_file) for speaker similarity; skipped if missing (default="${spk_model_dir}").
    --spk_model_file        # Its checkpoint name (default="${spk_model_file}").
    --curve                 # Stage 7: STOI vs training steps (default="${curve}").
    --curve_max_utts        # Utterances of the curve (default="${curve_max_utts}").
    --results               # Results file (default="${results}").
EOF
)

. ./path.sh
. utils/parse_options.sh
if [ $# -ne 0 ]; then log "${help_message}"; log "ERROR: no positional argument is taken, got: $*"; exit 2; fi
read -r -a py <<< "${python}"
tag=codec_$(basename "${train_config%.*}")
exp=exp/${tag}

if [ ${stage} -le 1 ] && [ ${stop_stage} -ge 1 ]; then
    log "Stage 1: single-speaker data from ${echo_dir}"
    for s in ${train_set} ${valid_set} ${test_sets}; do
        if [ ! -f "${echo_dir}/data/${s}/spk1.scp" ]; then
            log "Stage 1: ${echo_dir}/data/${s} is missing: running ${echo_dir} stage 1"
            (cd "${echo_dir}" && ./run.sh --stage 1 --stop_stage 1)
        fi
        mkdir -p "data/${s}"
        awk '{print $1, $2}' "${echo_dir}/data/${s}/spk1.scp" > "data/${s}/wav.scp.tmp"
        mv "data/${s}/wav.scp.tmp" "data/${s}/wav.scp"
        cp "${echo_dir}/data/${s}/utt2num_samples" "data/${s}/utt2num_samples.tmp"
        mv "data/${s}/utt2num_samples.tmp" "data/${s}/utt2num_samples"
    done
    mkdir -p "data/${valid_set}_sub"
    for f in wav.scp utt2num_samples; do
        head -n "${valid_max_utts}" "data/${valid_set}/${f}" > "data/${valid_set}_sub/${f}"
    done
fi

if [ ${stage} -le 2 ] && [ ${stop_stage} -ge 2 ]; then
    if [ -f "${pretrain_ckpt}" ]; then
        log "Stage 2: stage-5 encoder ${pretrain_ckpt} exists"
    else
        log "Stage 2: ${pretrain_ckpt} missing: running ${echo_dir} stages 1-5"
        (cd "${echo_dir}" && ./run.sh --stage 1 --stop_stage 5)
        [ -f "${pretrain_ckpt}" ] || { log "ERROR: ${echo_dir} stage 5 did not write ${pretrain_ckpt}"; exit 1; }
    fi
fi

if [ ${stage} -le 3 ] && [ ${stop_stage} -ge 3 ]; then
    log "Stage 3: training ${exp} (log: ${exp}/train.log)"
    mkdir -p "${exp}"
    # shellcheck disable=SC2086
    "${py[@]}" -m espnet_echo.bin.codec_train --config "${train_config}" --output_dir "${exp}" \
        --ngpu "${ngpu}" --resume true \
        --train_data_path_and_name_and_type "data/${train_set}/wav.scp,audio,sound" \
        --train_shape_file "data/${train_set}/utt2num_samples" \
        --valid_data_path_and_name_and_type "data/${valid_set}_sub/wav.scp,audio,sound" \
        --valid_shape_file "data/${valid_set}_sub/utt2num_samples" \
        --init_param "${pretrain_ckpt}:target_encoder:codec.generator.encoder" \
                     "${pretrain_ckpt}:normalize:codec.generator.normalize" \
        ${train_args} >> "${exp}/train.log" 2>&1 \
        || { log "ERROR: training failed, see ${exp}/train.log"; tail -n 20 "${exp}/train.log"; exit 1; }
fi

for s in ${test_sets}; do
    if [ ${stage} -le 4 ] && [ ${stop_stage} -ge 4 ]; then
        log "Stage 4: encoding data/${s} -> ${exp}/tokens_${s}"
        "${py[@]}" -m espnet_echo.bin.codec_encode --config "${exp}/config.yaml" \
            --model_file "${exp}/${model_file}" --out_dir "${exp}/tokens_${s}" "data/${s}/wav.scp"
    fi
    if [ ${stage} -le 5 ] && [ ${stop_stage} -ge 5 ]; then
        log "Stage 5: decoding ${exp}/tokens_${s} -> ${exp}/decode_${s}"
        "${py[@]}" -m espnet_echo.bin.codec_decode --config "${exp}/config.yaml" \
            --model_file "${exp}/${model_file}" --tokens "${exp}/tokens_${s}/tokens.jsonl" \
            --out_dir "${exp}/decode_${s}"
    fi
    if [ ${stage} -le 6 ] && [ ${stop_stage} -ge 6 ]; then
        log "Stage 6: scoring ${exp}/decode_${s} beside Codec2 and Opus"
        opts=()
        [ -z "${score_max_utts}" ] || opts+=(--max_utts "${score_max_utts}")
        if [ -f "${spk_model_dir}/config.yaml" ] && [ -f "${spk_model_dir}/${spk_model_file}" ]; then
            opts+=(--spk_model_config "${spk_model_dir}/config.yaml"
                   --spk_model_file "${spk_model_dir}/${spk_model_file}")
        else
            log "Stage 6: no ${spk_model_dir}/${spk_model_file}: no speaker similarity"
        fi
        "${py[@]}" -m espnet_echo.bin.codec_score --ref_scp "data/${s}/wav.scp" \
            --hyp_scp "${exp}/decode_${s}/wav.scp" --token_dir "${exp}/tokens_${s}" \
            --out_dir "${exp}/scores_${s}" "${opts[@]}"
    fi
done

if [ ${stage} -le 6 ] && [ ${stop_stage} -ge 6 ]; then
    {
        echo "# JEPA + DAAM tokenizer: ${tag}"
        echo
        echo "Config ${train_config}, checkpoint ${exp}/${model_file}; references: clean single-speaker"
        echo "utterances (spk1.scp of ${echo_dir}); written by codec.sh stage 6 on $(date -u '+%Y-%m-%d %H:%M UTC')."
        echo "spk sim: cosine of the speaker-head embeddings of ${spk_model_dir} (reference vs decoded)."
        for s in ${test_sets}; do
            echo
            echo "## ${s}"
            echo
            cat "${exp}/scores_${s}/scores.md"
        done
    } > "${results}.tmp"
    mv "${results}.tmp" "${results}"
    log "Stage 6: wrote ${results}"
fi

if [ ${stage} -le 7 ] && [ ${stop_stage} -ge 7 ] && [ "${curve}" = true ]; then
    first_test=${test_sets%% *}
    log "Stage 7: STOI vs training steps of ${exp} on data/${first_test}"
    "${py[@]}" -m espnet_echo.bin.codec_score --curve_exp "${exp}" \
        --ref_scp "data/${first_test}/wav.scp" --max_utts "${curve_max_utts}" --out_dir "${exp}/curve"
fi
log "Done"

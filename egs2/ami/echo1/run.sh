#!/usr/bin/env bash
# Copyright 2026 espnet-echo developers
#  Apache 2.0
# AMI meeting corpus: inference and scoring of a model trained elsewhere (this recipe trains
# nothing). Whole meetings (15-50 min) are diarized with the project's long-audio inference
# (chunks, diarization + speaker heads) and scored with DER against the AMI-diarization-setup
# references on their UEMs (README.md: conventions).
#
#  1 data       local/data.sh (espnet_echo.bin.prepare_ami)          -> data/<set>
#  2 format     validate + dump (espnet_echo.bin.format_data)        -> dump/raw/<set>
#  7 inference  espnet_echo.bin.echo_inference per --diar_modes entry (vbx: blind, with the
#               model's own PLDA)        -> exp/<model_tag>/decode_<set>[_vbx]
#  8 scoring    espnet_echo.bin.score (DER at --collars on the UEM, speaker count) beside
#               the oracle / one-speaker references, then show_results  -> RESULTS.md
# Stage numbers follow echo.sh; 3-6 (tokens, stats, pretraining, training) belong to the
# recipe the model comes from. echo.sh's stages 7-8 expect the model under this recipe's
# exp/ (built from --train_configs) and its PLDA fitted on this recipe's training set, so
# they are written out here with the project's CLIs.
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') ($(basename "$0"):${BASH_LINENO[0]}) $*"; }

# Options:
stage=1
stop_stage=8
python=python3
fs=16000
nj=2                 # parallel jobs of stage 2's audio checks
# Data
ami_root=""          # the amicorpus dir (<meeting>/audio/<meeting>.Mix-Headset.wav)
setup_root=""        # checkout of BUTSpeechFIT/AMI-diarization-setup
mic=ihm-mix          # ihm-mix (Mix-Headset) or sdm (Array1-01)
reference=only_words # only_words or word_and_vocalsounds (AMI-diarization-setup)
test_sets="dev test" # splits of the Full-corpus-ASR partition decoded and scored
# Model
model_dir=""         # exp dir of a trained model, e.g. ../../mini_mix/echo1/exp/echo_train_echo
train_config=""      # default: <model_dir>/config.yaml
model_file=""        # default: <model_dir>/valid.loss.best.pth
model_root=""        # dir the model config's relative paths (stats file) start from; default: <model_dir>/../..
model_tag=""         # names exp/<model_tag>; default: basename of <model_dir>
plda_file=""         # vbx: the model's PLDA (fit_plda on ITS training data); default: <model_dir>/plda.npz
# Inference / scoring
diar_modes="vbx"     # eend and/or vbx
inference_args=""    # extra args of every espnet_echo.bin.echo_inference run
collars="0 0.25"     # DER collars (s, md-eval convention: each side of a reference boundary)
baselines="oracle one_speaker"  # reference hypotheses scored beside the model
results=RESULTS.md
# End of options

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message=$(cat << EOF
Usage: $0 --ami_root <amicorpus> --setup_root <AMI-diarization-setup> --model_dir <exp dir> [options]

Options:
    --stage            # First stage to run: 1, 2, 7 or 8 (default="${stage}").
    --stop_stage       # Last stage to run (default="${stop_stage}").
    --python           # Python command, may be multi-word (default="${python}").
    --fs               # Sample rate of the model; audio of another rate is an error (default="${fs}").
    --nj               # Parallel jobs of stage 2's audio checks (default="${nj}").
    --ami_root         # The amicorpus dir of the AMI download (default="${ami_root}").
    --setup_root       # Checkout of BUTSpeechFIT/AMI-diarization-setup (default="${setup_root}").
    --mic              # ihm-mix (Mix-Headset) or sdm (Array1-01) (default="${mic}").
    --reference        # Reference RTTMs: only_words or word_and_vocalsounds (default="${reference}").
    --test_sets        # Splits decoded and scored, space-separated: train dev test (default="${test_sets}").
    --model_dir        # Exp dir of a trained model (config.yaml, checkpoint, plda.npz) (default="${model_dir}").
    --train_config     # Model config; empty: <model_dir>/config.yaml (default="${train_config}").
    --model_file       # Checkpoint; empty: <model_dir>/valid.loss.best.pth (default="${model_file}").
    --model_root       # Dir the config's relative paths start from; empty: <model_dir>/../.. (default="${model_root}").
    --model_tag        # Names exp/<model_tag>; empty: basename of --model_dir (default="${model_tag}").
    --plda_file        # PLDA of vbx decoding, fitted on the model's training data; empty: <model_dir>/plda.npz (default="${plda_file}").
    --diar_modes       # Diarization modes, space-separated: eend, vbx (default="${diar_modes}").
    --inference_args   # Extra args of every espnet_echo.bin.echo_inference run (default="${inference_args}").
    --collars          # DER collars in seconds, each side of a reference boundary (default="${collars}").
    --baselines        # Reference hypotheses scored beside the model: oracle, one_speaker (default="${baselines}").
    --results          # Results table written by stage 8 (default="${results}").
EOF
)

. ./path.sh
. utils/parse_options.sh
if [ $# -ne 0 ]; then
    log "ERROR: no positional argument is taken, got: $*"
    exit 2
fi
# shellcheck disable=SC2206
py=(${python})
abspath() { "${py[@]}" -c 'import os, sys; print(os.path.abspath(sys.argv[1]))' "$1"; }

# The model is checked before any stage runs.
if [ "${stop_stage}" -ge 7 ]; then
    [ -n "${model_dir}" ] || [ -n "${train_config}" ] || { log "ERROR: --model_dir is empty (see $0 --help)"; exit 1; }
    [ -n "${train_config}" ] || train_config=${model_dir}/config.yaml
    [ -n "${model_file}" ] || model_file=${model_dir}/valid.loss.best.pth
    [ -n "${model_root}" ] || model_root=$(dirname "$(dirname "$(dirname "${train_config}")")")  # <recipe>/exp/<model>/config.yaml
    [ -n "${model_tag}" ] || model_tag=$(basename "$(dirname "${train_config}")")
    [ -n "${plda_file}" ] || plda_file=$(dirname "${model_file}")/plda.npz
    for f in "${train_config}" "${model_file}"; do
        [ -f "${f}" ] || { log "ERROR: ${f} not found (--model_dir/--train_config/--model_file)"; exit 1; }
    done
    [ -d "${model_root}" ] || { log "ERROR: --model_root ${model_root} is not a directory"; exit 1; }
    train_config=$(abspath "${train_config}")
    model_file=$(abspath "${model_file}")
    model_root=$(abspath "${model_root}")
    plda_file=$(abspath "${plda_file}")
    for mode in ${diar_modes}; do
        case "${mode}" in
            eend) ;;
            vbx) [ -f "${plda_file}" ] || {
                     log "ERROR: ${plda_file} not found: vbx needs the model's PLDA, fitted on the training data of the model (not on AMI), e.g. in its recipe dir:"
                     log "  python -m espnet_echo.bin.fit_plda --train_config ${train_config} --model_file ${model_file} --data_dir dump/raw/train --out ${plda_file}"
                     log "(or decode with --diar_modes eend)"
                     exit 1; } ;;
            *) log "ERROR: --diar_modes takes eend and vbx, got ${mode}"; exit 1 ;;
        esac
    done
    exp=$(abspath "exp/${model_tag}")
fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    log "Stage 1: AMI ${test_sets} (${mic}, ${reference}) -> data/<set>"
    mkdir -p exp/log
    local/data.sh --ami_root "${ami_root}" --setup_root "${setup_root}" --splits "${test_sets}" \
        --mic "${mic}" --reference "${reference}" --fs "${fs}" 2>&1 | tee exp/log/data.log
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
    log "Stage 2: validate and dump data/<set> -> dump/raw/<set>"
    mkdir -p exp/log
    for dset in ${test_sets}; do
        [ -f "data/${dset}/utt2num_spk" ] || { log "ERROR: data/${dset}/utt2num_spk not found (run stage 1)"; exit 1; }
        # no transcripts: text_spk{n} are empty keys; --num_spk only has to cover every meeting
        set_spk=$(awk 'BEGIN { m = 1 } $2 > m { m = $2 } END { print m }' "data/${dset}/utt2num_spk")
        "${py[@]}" -m espnet_echo.bin.format_data --src "data/${dset}" --dst "dump/raw/${dset}" \
            --num_spk "${set_spk}" --fs "${fs}" --nj "${nj}" 2>&1 | tee "exp/log/format_${dset}.log"
    done
fi

if [ "${stage}" -le 7 ] && [ "${stop_stage}" -ge 7 ]; then
    mkdir -p "${exp}/log"
    for dset in ${test_sets}; do
        [ -f "dump/raw/${dset}/wav.scp" ] || { log "ERROR: dump/raw/${dset}/wav.scp not found (run stage 2)"; exit 1; }
        data=$(abspath "dump/raw/${dset}")
        for mode in ${diar_modes}; do
            out=${exp}/decode_${dset}
            mode_args=(--diar_mode "${mode}" --tasks diar)
            if [ "${mode}" = vbx ]; then
                out=${out}_vbx
                mode_args=(--diar_mode vbx --plda_file "${plda_file}" --tasks diar spk)
            fi
            logfile=${exp}/log/decode_${dset}_${mode}.log
            log "Stage 7: ${model_tag} (${mode}) on ${dset} -> ${out} (log: ${logfile})"
            # the model's config names its stats file relative to its own recipe dir
            # shellcheck disable=SC2086
            if ! (cd "${model_root}" && "${py[@]}" -m espnet_echo.bin.echo_inference \
                    --train_config "${train_config}" --model_file "${model_file}" \
                    --data_dir "${data}" --output_dir "${out}" --fs "${fs}" \
                    "${mode_args[@]}" ${inference_args}) > "${logfile}" 2>&1; then
                log "ERROR: inference failed; see ${logfile}"
                tail -n 20 "${logfile}"
                exit 1
            fi
            grep -h "up to date; skipped" "${logfile}" || true
        done
    done
fi

if [ "${stage}" -le 8 ] && [ "${stop_stage}" -ge 8 ]; then
    log "Stage 8: scoring (DER at collars ${collars} on the UEM) -> ${results}"
    scores=()
    for dset in ${test_sets}; do
        for kind in ${baselines}; do
            out=exp/baseline_${kind}/decode_${dset}
            "${py[@]}" -m espnet_echo.bin.make_baseline_hyp --ref_dir "dump/raw/${dset}" \
                --out_dir "${out}" --kind "${kind}"
            # shellcheck disable=SC2086
            "${py[@]}" -m espnet_echo.bin.score --ref_dir "dump/raw/${dset}" --hyp_dir "${out}" \
                --out_dir "${out}/score" --name "${kind}/${dset}" --collar ${collars} --fs "${fs}"
            scores+=("${out}/score/scores.json")
        done
        for mode in ${diar_modes}; do
            out=exp/${model_tag}/decode_${dset}
            name=${model_tag}/${dset}
            if [ "${mode}" = vbx ]; then out=${out}_vbx; name=${model_tag}+vbx/${dset}; fi
            if [ ! -d "${out}" ]; then
                log "  ${out} does not exist (run stage 7); not scored"
                continue
            fi
            # shellcheck disable=SC2086
            "${py[@]}" -m espnet_echo.bin.score --ref_dir "dump/raw/${dset}" --hyp_dir "${out}" \
                --out_dir "${out}/score" --name "${name}" --collar ${collars} --fs "${fs}"
            scores+=("${out}/score/scores.json")
        done
    done
    [ ${#scores[@]} -gt 0 ] || { log "ERROR: nothing to score"; exit 1; }
    "${py[@]}" -m espnet_echo.bin.show_results --out "${results}" "${scores[@]}"
fi
log "Successfully finished."

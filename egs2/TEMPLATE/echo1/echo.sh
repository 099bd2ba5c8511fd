#!/usr/bin/env bash
# Copyright 2026 espnet-echo developers
#  Apache 2.0
# Stage driver of espnet-echo recipes (ESPnet egs2 style; no Kaldi/SCTK/ESPnet checkout).
#
#  1 data        local/data.sh                           -> data/<set>
#  2 format      validate + dump (espnet_echo.bin.format_data) -> dump/raw/<set>
#  3 token list  sentencepiece BPE or char             -> data/token_list/<type>/tokens.txt
#                and speaker ids of the training speakers (speaker heads)
#                                                        -> data/spk_list/spk_list.txt, dump/raw/<set>/spk_ids
#  4 stats       EchoTask --collect_stats (ESPnet)       -> exp/stats_<feats>/
#  5 pretrain    JEPA per --pretrain_configs entry (espnet_echo.bin.jepa_train) on the
#                mixtures + clean sources, GMM fitted first for anchored configs, then
#                frozen-encoder linear probes               -> exp/jepa_<config>/
#  6 train       espnet_echo.bin.echo_train, one model per --train_configs entry
#  7 inference   PLDA of each model with a speaker head (espnet_echo.bin.fit_plda, for VBx),
#                then espnet_echo.bin.echo_inference per --diar_modes entry in --inference_nj
#                parallel jobs (wav.scp or segments split, one hypothesis dir per job, merged)
#                -> exp/<model>/decode_<set> (eend), exp/<model>/decode_<set>_vbx (vbx)
#  8 scoring     espnet_echo.bin.score, the factorisation probe of each model with a speaker
#                head (espnet_echo.bin.factorisation_probe) + show_results -> RESULTS.md
#  9 pack        each trained model with its config, checkpoint, PLDA, the files its config
#                names and a model card from ${results} (espnet_echo.bin.pack)
#                                                        -> exp/<model>/packed/<model>.zip
# 10 publish     only with --hf_repo owner/name: the pack of --hf_model to the Hugging Face
#                Hub (espnet_echo.bin.publish; --hf_dry_run true lists the files only)
# Every stage is idempotent, logs to exp/*/log
# (stage 7: exp/<model>/decode_<set>/logdir) and can be re-run alone with
# --stage N --stop_stage N. `./echo.sh --help` lists the options and their defaults.
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') ($(basename "$0"):${BASH_LINENO[0]}) $*"; }
min() { local a=$1; for b in "$@"; do [ "$b" -lt "$a" ] && a=$b; done; echo "$a"; }

# Options: utils/parse_options.sh sets each from `--name value`; help_message lists them.
# General
stage=1
stop_stage=10000
nj=2                 # parallel jobs for data preparation and dumping
python=python3       # may be multi-word, e.g. "coverage run --append"
fs=16000
num_spk=3            # speaker slots of the model (max K in the data)
# Data
local_data_opts=""   # passed to local/data.sh
train_set=train
valid_set=dev
test_sets="test"
probe_set=""         # held-out-speaker set (crossed speakers x sentences) of the factorisation probe
resample=false       # resample wrong-rate audio in stage 2 instead of failing
# Tokens
token_type=bpe       # bpe or char
nbpe=100
bpemode=unigram
# Stats / training
feats_tag=fbank
# JEPA pretraining (stage 5)
pretrain_configs=""  # space-separated JEPA configs; one pretrained encoder per config
pretrain_args=""     # extra args for every pretraining run
gmm_components=64    # GMM size for configs whose model_conf names a gmm_file
probe=true           # linear probes (speaker ID, CTC) of random-init and pretrained encoders
probe_max_utts=300   # training mixtures whose clean sources the probes use
train_configs=""     # space-separated model configs; one model per config
train_args=""        # extra args for every training run, e.g. "--max_epoch 1"
ngpu=0               # GPUs per node; > 1: ESPnet's trainer spawns one DDP process per GPU
num_nodes=1          # nodes of pretraining and training; > 1 needs --dist_launcher
dist_launcher=""     # empty: run here; slurm or mpi: start stages 5-6 through espnet2.bin.launch
cuda_cmd=""          # Kaldi-style job script given to espnet2.bin.launch --cmd; empty: slurm.pl (slurm), queue.pl (mpi)
# Inference / scoring
inference_args=""    # extra args for every espnet_echo.bin.echo_inference job
inference_nj=2       # parallel decoding jobs per test set (at most one per recording)
diar_modes="eend"    # diarization modes decoded: eend and/or vbx (models with a speaker head)
results=RESULTS.md
baselines="oracle one_speaker"  # reference hypotheses scored beside the models
protocol=false       # stage 8: Echo's protocol table (blind DER, PIT acc, latent SI-SDRi, K-routing, gap, WER)
# Packing / publishing
data_licence=""      # licence of the training data, written into the model cards (stage 9)
hf_repo=""           # owner/name: stage 10 uploads to this Hugging Face repo; empty: no upload
hf_model=""          # config of the model stage 10 publishes; empty: the first --train_configs entry
hf_dry_run=false     # stage 10 lists the files it would upload, uploads nothing
# End of options

help_message=$(cat << EOF
Usage: $0 --train_configs "<config> [<config> ...]" [options]

Options:
    # General
    --stage            # First stage to run (default="${stage}").
    --stop_stage       # Last stage to run (default="${stop_stage}").
    --nj               # Parallel jobs of data preparation and dumping (default="${nj}").
    --python           # Python command, may be multi-word (default="${python}").
    --fs               # Sampling rate of the data in Hz (default="${fs}").
    --num_spk          # Speaker slots of the model: max K in the data (default="${num_spk}").
    # Data (stages 1-2)
    --local_data_opts  # Options passed to local/data.sh (default="${local_data_opts}").
    --train_set        # Training set (default="${train_set}").
    --valid_set        # Validation set (default="${valid_set}").
    --test_sets        # Sets decoded and scored, space-separated (default="${test_sets}").
    --probe_set        # Held-out-speaker set of the factorisation probe; empty: no probe (default="${probe_set}").
    --resample         # Resample wrong-rate audio in stage 2 instead of failing (default="${resample}").
    # Tokens (stage 3)
    --token_type       # Token type: bpe or char (default="${token_type}").
    --nbpe             # BPE vocabulary size (default="${nbpe}").
    --bpemode          # Sentencepiece model type: unigram or bpe (default="${bpemode}").
    # Statistics (stage 4)
    --feats_tag        # Names the stats dir exp/stats_<feats_tag> (default="${feats_tag}").
    # JEPA pretraining (stage 5, skipped without --pretrain_configs)
    --pretrain_configs # JEPA configs, space-separated; one encoder per config (default="${pretrain_configs}").
    --pretrain_args    # Extra args of every pretraining run (default="${pretrain_args}").
    --gmm_components   # GMM size for configs whose model_conf names a gmm_file (default="${gmm_components}").
    --probe            # Linear probes of the random-init and pretrained encoders (default="${probe}").
    --probe_max_utts   # Training mixtures whose clean sources the probes use (default="${probe_max_utts}").
    # Training (stage 6)
    --train_configs    # Model configs, space-separated; one model per config; required (default="${train_configs}").
    --train_args       # Extra args of every training run, e.g. "--max_epoch 1" (default="${train_args}").
    --ngpu             # GPUs per node of pretraining and training; > 1: one DDP process per GPU (default="${ngpu}").
    --num_nodes        # Nodes of pretraining and training; > 1 needs --dist_launcher (default="${num_nodes}").
    --dist_launcher    # Empty: run stages 5-6 here; slurm or mpi: through espnet2.bin.launch (default="${dist_launcher}").
    --cuda_cmd         # Job script of espnet2.bin.launch --cmd; empty: slurm.pl (slurm), queue.pl (mpi) (default="${cuda_cmd}").
    # Inference and scoring (stages 7-8)
    --inference_args   # Extra args of every espnet_echo.bin.echo_inference job (default="${inference_args}").
    --inference_nj     # Parallel decoding jobs per set, at most one per recording (default="${inference_nj}").
    --diar_modes       # Diarization modes decoded, space-separated: eend, vbx (models with a speaker head) (default="${diar_modes}").
    --results          # Results table written by stage 8 (default="${results}").
    --baselines        # Reference hypotheses scored beside the models (default="${baselines}").
    --protocol         # Add Echo's protocol table to the results, one row per model on the first test set (default="${protocol}").
    # Packing and publishing (stages 9-10)
    --data_licence     # Licence of the training data, for the model cards (default="${data_licence}").
    --hf_repo          # owner/name of the Hugging Face repo stage 10 uploads to; empty: no upload (default="${hf_repo}").
    --hf_model         # Config of the model stage 10 publishes; empty: the first --train_configs entry (default="${hf_model}").
    --hf_dry_run       # Stage 10 only lists the files it would upload (default="${hf_dry_run}").
EOF
)

. ./path.sh
. utils/parse_options.sh

if [ $# -ne 0 ]; then
    log "${help_message}"
    log "ERROR: no positional argument is taken, got: $*"
    exit 2
fi
[ -n "${train_configs}" ] || { log "ERROR: --train_configs is empty (see $0 --help)"; exit 1; }
[[ "${num_nodes}" =~ ^[1-9][0-9]*$ ]] || { log "ERROR: --num_nodes takes a positive integer, got '${num_nodes}'"; exit 2; }
case "${dist_launcher}" in
    "") [ "${num_nodes}" -le 1 ] || { log "ERROR: --num_nodes ${num_nodes} needs --dist_launcher slurm or mpi"; exit 2; } ;;
    slurm) [ -n "${cuda_cmd}" ] || cuda_cmd=slurm.pl ;;
    mpi) [ -n "${cuda_cmd}" ] || cuda_cmd=queue.pl ;;
    *) log "ERROR: --dist_launcher takes slurm or mpi (or empty), got '${dist_launcher}'"; exit 2 ;;
esac
if [ -n "${dist_launcher}" ]; then
    # espnet2.bin.launch picks srun for a slurm.pl --cmd and mpirun for any other
    # script except run.pl/ssh.pl, which cannot submit to other nodes
    case "$(basename "${cuda_cmd%% *}")" in
        slurm.pl) [ "${dist_launcher}" = slurm ] || { log "ERROR: --dist_launcher ${dist_launcher} with --cuda_cmd ${cuda_cmd}: espnet2.bin.launch starts a slurm.pl job with srun"; exit 2; } ;;
        run.pl|ssh.pl) [ "${num_nodes}" -le 1 ] || { log "ERROR: --cuda_cmd ${cuda_cmd} cannot submit to other nodes (--num_nodes ${num_nodes})"; exit 2; } ;;
        *) [ "${dist_launcher}" = mpi ] || [ "${num_nodes}" -le 1 ] || { log "ERROR: --dist_launcher slurm needs a slurm.pl --cuda_cmd, got ${cuda_cmd}"; exit 2; } ;;
    esac
    # the Kaldi job scripts are not shipped with this project: take them from an ESPnet
    # or Kaldi checkout (egs2/TEMPLATE/asr1/utils/{slurm,queue}.pl)
    job_script=${cuda_cmd%% *}
    [ -x "${job_script}" ] || command -v "${job_script}" > /dev/null || { log "ERROR: --dist_launcher ${dist_launcher} runs jobs with ${job_script}, which is neither an executable path nor on PATH: copy it from ESPnet's egs2/TEMPLATE/asr1/utils/ (with its conf/${job_script%.pl}.conf) or pass --cuda_cmd"; exit 2; }
fi
# where a failed stage 5/6 run left its messages
train_log_hint() { if [ -n "${dist_launcher}" ]; then echo "$1/log/train.log and $1/log/launch.log"; else echo "$1/log/train.log"; fi; }
dumpdir=dump/raw
token_dir=data/token_list/${token_type}
[ "${token_type}" = bpe ] && token_dir=data/token_list/bpe_${bpemode}${nbpe}
token_list=${token_dir}/tokens.txt
stats_dir=exp/stats_${feats_tag}
model_dir() { echo "exp/echo_$(basename "${1%.*}")"; }
# train_state <dir> <checkpoint> <input file>...: "done" (the trainer logged that it
# finished and <checkpoint> is newer than every input), "stale" (an input, e.g. the config
# or an init_param file, is newer than <checkpoint>: train afresh), or "todo" (never
# started, or interrupted: ESPnet's --resume continues from checkpoint.pth).
train_state() {
    local dir=$1 ckpt=$2 f
    shift 2
    [ -e "${dir}/${ckpt}" ] || { echo todo; return; }
    for f in "$@"; do
        [ "${dir}/${ckpt}" -nt "${f}" ] || { echo stale; return; }
    done
    if grep -q "The training was finished at" "${dir}/log/train.log" 2>/dev/null; then
        echo done
    else
        echo todo
    fi
}
# set_aside <dir>: a stale training dir moves to <dir>.stale (replacing an older one), so
# the new run starts from scratch instead of resuming the old checkpoint.
set_aside() {
    rm -rf "$1.stale"
    mv "$1" "$1.stale"
    mkdir -p "$1/log"
    log "  $1 is older than its config or init files: moved to $1.stale; training afresh"
}
pretrain_dir() { echo "exp/jepa_$(basename "${1%.*}")"; }
conf_value() {  # conf_value <yaml> <key> [<subkey>...]: a value of a config, empty if unset
    "${py[@]}" -m espnet_echo.bin.config_get "$@"
}
all_sets="${train_set} ${valid_set} ${test_sets} ${probe_set}"
spk_list=data/spk_list/spk_list.txt
has_spk_head() { [ -n "$(conf_value "$1" spk_head)" ]; }
# shellcheck disable=SC2206
py=(${python})

run_train() {  # run_train <exp dir> <log> <python -m module and its args...>
    # Stages 5-6. Here: the trainer with --ngpu and --multiprocessing_distributed true
    # (ESPnet's default is false, which would make --ngpu > 1 DataParallel; true makes it
    # one DDP process per GPU and is a no-op for --ngpu 0/1), output to <log>. With
    # --dist_launcher: espnet2.bin.launch as ESPnet's asr.sh starts it (--cmd, --num_nodes,
    # shared-file init under <exp dir>; it adds --ngpu, --multiprocessing_distributed true,
    # --dist_launcher and the init method itself); the job script writes <log> and the
    # launcher's own output goes to <log dir>/launch.log.
    local dir=$1 logfile=$2
    shift 2
    if [ -z "${dist_launcher}" ]; then
        # A resumed run (checkpoint.pth) appends to its log, so the epochs before the
        # interruption stay in it (the learning curves read steps and minutes from it).
        local redirect=">"
        if [ -f "${dir}/checkpoint.pth" ] && [ -f "${logfile}" ]; then
            redirect=">>"
            echo "# $(date '+%Y-%m-%dT%H:%M:%S') resumed by echo.sh from ${dir}/checkpoint.pth" >> "${logfile}"
        fi
        # the options go right after the module name, so --train_args/--pretrain_args
        # still override them
        local cmd=() arg after_m=false
        for arg in "$@"; do
            cmd+=("${arg}")
            if [ "${after_m}" = true ]; then
                cmd+=(--ngpu "${ngpu}" --multiprocessing_distributed true)
                after_m=added
            elif [ "${after_m}" = false ] && [ "${arg}" = -m ]; then
                after_m=true
            fi
        done
        if [ "${redirect}" = ">>" ]; then
            "${cmd[@]}" >> "${logfile}" 2>&1
        else
            "${cmd[@]}" > "${logfile}" 2>&1
        fi
    else
        local jobname=${logfile}
        if echo "${cuda_cmd}" | grep -q -e queue.pl -e queue-freegpu.pl; then
            jobname=$(basename "${dir}")  # SGE job names take no "/"
        fi
        "${py[@]}" -m espnet2.bin.launch --cmd "${cuda_cmd} --name ${jobname}" \
            --log "${logfile}" --ngpu "${ngpu}" --num_nodes "${num_nodes}" \
            --init_file_prefix "${dir}/.dist_init_" --multiprocessing_distributed true \
            -- "$@" > "$(dirname "${logfile}")/launch.log" 2>&1
    fi
}

data_opts() {  # data triples of one dump dir: $1=train|valid $2=dir [$3=config]
    local kind=$1 dir=$2 config=${3:-} n
    echo "--${kind}_data_path_and_name_and_type ${dir}/wav.scp,speech,sound"
    echo "--${kind}_data_path_and_name_and_type ${dir}/speech_ref.scp,speech_ref,variable_columns_sound"
    echo "--${kind}_data_path_and_name_and_type ${dir}/espnet_rttm,spk_labels,rttm"
    echo "--${kind}_data_path_and_name_and_type ${dir}/utt2num_spk,num_spk,text_int"
    if [ -f "${dir}/text_spk1" ]; then  # a corpus without transcripts (VoxCeleb) has none
        for n in $(seq "${num_spk}"); do
            echo "--${kind}_data_path_and_name_and_type ${dir}/text_spk${n},text_spk${n},text"
        done
    fi
    if [ -n "${config}" ] && has_spk_head "${config}"; then
        echo "--${kind}_data_path_and_name_and_type ${dir}/spk_ids,spk_ids,text_int"
    fi
}
merge_decode() {  # merge_decode <logdir> <n> <out>: logdir/output.1..n -> out (docs/CONTRACT.md)
    # rttm (in job order) and utt2num_spk: from every job or from none; spk{n}.scp and
    # text_spk{n}: the union over the jobs (a job may find fewer speakers); the separated
    # wavs are hard-linked (copied where links fail) into out/wav and the scp files name
    # them there, as one process would write them, so out stays whole whatever later runs
    # do to the job dirs; info.json: sums, the RTF weighted by audio length.
    local logdir=$1 n=$2 out=$3 tmp name names part j have out_abs part_abs
    local parts=()
    for j in $(seq "${n}"); do parts+=("${logdir}/output.${j}"); done
    for part in "${parts[@]}"; do
        [ -f "${part}/info.json" ] || { log "ERROR: ${part}/info.json not found"; exit 1; }
    done
    out_abs=$(cd "${out}" && pwd -P)
    rm -rf "${out}"/.merge.*  # what an interrupted merge left
    tmp=$(mktemp -d "${out}/.merge.XXXXXX")
    for name in rttm utt2num_spk; do
        have=0
        for part in "${parts[@]}"; do
            if [ -f "${part}/${name}" ]; then have=$((have + 1)); fi
        done
        if [ "${have}" -eq "${n}" ]; then
            for part in "${parts[@]}"; do cat "${part}/${name}"; done > "${tmp}/${name}"
        elif [ "${have}" -ne 0 ]; then
            log "ERROR: ${name} is in ${have} of the ${n} job dirs ${logdir}/output.*"
            rm -rf "${tmp}"
            exit 1
        fi
    done
    if [ -f "${tmp}/utt2num_spk" ]; then
        sort -k1,1 "${tmp}/utt2num_spk" > "${tmp}/utt2num_spk.sorted"
        mv "${tmp}/utt2num_spk.sorted" "${tmp}/utt2num_spk"
    fi
    mkdir "${tmp}/wav"
    for part in "${parts[@]}"; do
        if [ -d "${part}/wav" ]; then
            cp -al "${part}/wav/." "${tmp}/wav/" 2>/dev/null || cp -a "${part}/wav/." "${tmp}/wav/"
        fi
    done
    names=$(for part in "${parts[@]}"; do
                for name in "${part}"/spk*.scp "${part}"/text_spk*; do
                    if [ -f "${name}" ]; then basename "${name}"; fi
                done
            done | grep -E '^(spk[0-9]+\.scp|text_spk[0-9]+)$' | sort -u || true)
    for name in ${names}; do
        for part in "${parts[@]}"; do
            [ -f "${part}/${name}" ] || continue
            part_abs=$(cd "${part}" && pwd -P)
            awk -v from="${part_abs}/wav/" -v to="${out_abs}/wav/" \
                'index($2, from) == 1 { $2 = to substr($2, length(from) + 1) } { print }' \
                "${part}/${name}"
        done | sort -k1,1 > "${tmp}/${name}"
    done
    local info=()
    for part in "${parts[@]}"; do
        for name in rtf audio_sec encoder_params num_utts; do
            info+=("$(conf_value "${part}/info.json" "${name}")")
            [ -n "${info[-1]}" ] || { log "ERROR: ${part}/info.json has no ${name}"; exit 1; }
        done
    done
    printf '%s %s %s %s\n' "${info[@]}" \
        | awk '{ proc += $1 * $2; sec += $2; params = $3; utts += $4 }
        END { printf "{\n  \"rtf\": %.10g,\n  \"audio_sec\": %.10g,\n  \"encoder_params\": %d,\n  \"num_utts\": %d\n}\n",
              (sec > 0 ? proc / sec : 0), sec, params, utts }' > "${tmp}/info.json"
    # Swap in; no file of an earlier merge (say spk3.scp) or of the one-process layout
    # (.stamp.json) survives.
    rm -rf "${out}/rttm" "${out}/utt2num_spk" "${out}"/spk*.scp "${out}"/text_spk* \
        "${out}/info.json" "${out}/wav" "${out}/.stamp.json"
    mv "${tmp}"/* "${out}/"
    rmdir "${tmp}"
}

token_opts="--token_list ${token_list} --token_type ${token_type}"
[ "${token_type}" = bpe ] && token_opts+=" --bpemodel ${token_dir}/bpe.model"
# Transcripts exist unless the corpus has none (VoxCeleb): then there is no token list, no
# ASR head and no CTC probe.
with_text() { [ -f "${dumpdir}/${train_set}/text_spk1" ]; }
token_opts_if_text() { if with_text; then echo "${token_opts}"; fi; }

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    log "Stage 1: data preparation: local/data.sh ${local_data_opts}"
    mkdir -p exp/log
    # shellcheck disable=SC2086
    local/data.sh ${local_data_opts} 2>&1 | tee exp/log/data.log
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
    log "Stage 2: validate and dump data/<set> -> ${dumpdir}/<set>"
    mkdir -p exp/log
    for dset in ${all_sets}; do
        # a test set may hold more speakers than the model has slots (blind diarization):
        # its transcripts are kept for all of them
        set_spk=${num_spk}
        if [ -f "data/${dset}/utt2num_spk" ]; then
            set_spk=$(awk -v m="${num_spk}" '$2 > m { m = $2 } END { print m }' "data/${dset}/utt2num_spk")
        fi
        "${py[@]}" -m espnet_echo.bin.format_data --src "data/${dset}" \
            --dst "${dumpdir}/${dset}" --num_spk "${set_spk}" --fs "${fs}" \
            --resample "${resample}" --nj "${nj}" 2>&1 | tee "exp/log/format_${dset}.log"
    done
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
    mkdir -p exp/log
    if with_text; then
        log "Stage 3: ${token_type} token list -> ${token_list}"
        inputs=()
        for n in $(seq "${num_spk}"); do inputs+=(--input "${dumpdir}/${train_set}/text_spk${n}"); done
        "${py[@]}" -m espnet_echo.bin.make_token_list --token_type "${token_type}" \
            --nbpe "${nbpe}" --bpemode "${bpemode}" "${inputs[@]}" \
            --output_dir "${token_dir}" 2>&1 | tee exp/log/token_list.log
    else
        log "Stage 3: ${dumpdir}/${train_set} has no transcripts (text_spk1): no token list"
    fi
    for config in ${train_configs}; do
        has_spk_head "${config}" || continue
        log "Stage 3: training speaker list -> ${spk_list}, speaker ids -> ${dumpdir}/{${train_set},${valid_set}}/spk_ids"
        "${py[@]}" -m espnet_echo.bin.make_spk_ids --train_dir "${dumpdir}/${train_set}" \
            --spk_list "${spk_list}" --data_dir "${dumpdir}/${train_set}" \
            --data_dir "${dumpdir}/${valid_set}" 2>&1 | tee exp/log/spk_ids.log
        break
    done
fi

if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
    # Only the mixtures: GlobalMVN needs frontend statistics and batching needs
    # speech_shape; ESPnet's streaming reader also rejects empty transcripts.
    log "Stage 4: collect feature statistics -> ${stats_dir}"
    first_config=${train_configs%% *}
    if [ -f "${stats_dir}/train/feats_stats.npz" ] && [ "${stats_dir}/train/feats_stats.npz" -nt "${dumpdir}/${train_set}/wav.scp" ]; then
        log "  ${stats_dir} is up to date; skipped"
    else
        rm -rf "${stats_dir}.tmp"
        mkdir -p "${stats_dir}.tmp/log"
        spk_opts=""
        has_spk_head "${first_config}" && spk_opts="--spk_list ${spk_list}"
        # shellcheck disable=SC2046,SC2086
        "${py[@]}" -m espnet_echo.bin.echo_train --collect_stats true \
            --config "${first_config}" $(token_opts_if_text) --num_spk "${num_spk}" ${spk_opts} \
            --use_preprocessor true --normalize none --ngpu 0 --num_workers 0 \
            --train_data_path_and_name_and_type "${dumpdir}/${train_set}/wav.scp,speech,sound" \
            --valid_data_path_and_name_and_type "${dumpdir}/${valid_set}/wav.scp,speech,sound" \
            --output_dir "${stats_dir}.tmp/job" > "${stats_dir}.tmp/log/stats.log" 2>&1 \
            || { log "ERROR: collect stats failed; see ${stats_dir}.tmp/log/stats.log"; tail -n 20 "${stats_dir}.tmp/log/stats.log"; exit 1; }
        "${py[@]}" -m espnet2.bin.aggregate_stats_dirs --input_dir "${stats_dir}.tmp/job" \
            --output_dir "${stats_dir}.tmp/agg" >> "${stats_dir}.tmp/log/stats.log" 2>&1
        mv "${stats_dir}.tmp/log" "${stats_dir}.tmp/agg/log"
        rm -rf "${stats_dir}"
        mv "${stats_dir}.tmp/agg" "${stats_dir}"
        rm -rf "${stats_dir}.tmp"
    fi
fi

if [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ] && [ -n "${pretrain_configs}" ]; then
    log "Stage 5: JEPA pretraining: ${pretrain_configs}"
    mkdir -p exp/log
    for dset in "${train_set}" "${valid_set}"; do
        "${py[@]}" -m espnet_echo.bin.make_ssl_list --data_dir "${dumpdir}/${dset}" \
            --out_dir "${dumpdir}/${dset}_ssl" 2>&1 | tee "exp/log/ssl_list_${dset}.log"
    done
    for config in ${pretrain_configs}; do
        dir=$(pretrain_dir "${config}")
        mkdir -p "${dir}/log"
        gmm=$(conf_value "${config}" model_conf gmm_file)
        if [ -n "${gmm}" ]; then
            log "  GMM (${gmm_components} components) for ${config} -> ${gmm}"
            "${py[@]}" -m espnet_echo.bin.fit_gmm --config "${config}" \
                --wav_scp "${dumpdir}/${train_set}_ssl/wav.scp" \
                --num_components "${gmm_components}" --out "${gmm}" \
                > "${dir}/log/fit_gmm.log" 2>&1 \
                || { log "ERROR: GMM fit failed; see ${dir}/log/fit_gmm.log"; tail -n 20 "${dir}/log/fit_gmm.log"; exit 1; }
        fi
        log "  pretrain ${config} -> ${dir}"
        # shellcheck disable=SC2086
        state=$(train_state "${dir}" latest.pth "${config}" ${gmm})
        [ "${state}" = stale ] && set_aside "${dir}"
        if [ "${state}" = done ]; then
            log "  ${dir} is trained; skipped (remove it to retrain)"
        else
            # shellcheck disable=SC2086
            run_train "${dir}" "${dir}/log/train.log" \
                "${py[@]}" -m espnet_echo.bin.jepa_train --config "${config}" \
                --normalize global_mvn --normalize_conf "stats_file=${stats_dir}/train/feats_stats.npz" \
                --train_data_path_and_name_and_type "${dumpdir}/${train_set}_ssl/wav.scp,speech,sound" \
                --valid_data_path_and_name_and_type "${dumpdir}/${valid_set}_ssl/wav.scp,speech,sound" \
                --train_shape_file "${dumpdir}/${train_set}_ssl/speech_shape" \
                --valid_shape_file "${dumpdir}/${valid_set}_ssl/speech_shape" \
                --resume true --output_dir "${dir}" ${pretrain_args} \
                || { log "ERROR: pretraining failed; see $(train_log_hint "${dir}")"; tail -n 30 "${dir}/log/train.log" "${dir}/log/launch.log" 2>/dev/null; exit 1; }
        fi
    done
    if "${probe}" && ! with_text; then
        log "  ${dumpdir}/${train_set} has no transcripts: no linear probes (the CTC probe needs them)"
    fi
    if "${probe}" && with_text; then
        # The random-init probe uses the first config's encoder: the floor the
        # pretrained encoders are measured against.
        first_config=${pretrain_configs%% *}
        probes=("random:exp/jepa_probe_random:${first_config}:")
        for config in ${pretrain_configs}; do
            probes+=("$(basename "${config%.*}"):$(pretrain_dir "${config}"):${config}:$(pretrain_dir "${config}")/latest.pth")
        done
        for entry in "${probes[@]}"; do
            IFS=: read -r name dir config ckpt <<< "${entry}"
            mkdir -p "${dir}/log"
            if [ -f "${dir}/probe.json" ] && [ "${dir}/probe.json" -nt "${config}" ] \
                && { [ -z "${ckpt}" ] || [ "${dir}/probe.json" -nt "${ckpt}" ]; }; then
                log "  probe ${name}: ${dir}/probe.json is up to date; skipped"
                continue
            fi
            log "  linear probes of the ${name} encoder -> ${dir}/probe.json"
            ckpt_opts=""
            [ -n "${ckpt}" ] && ckpt_opts="--checkpoint ${ckpt} --prefix target_encoder"
            # shellcheck disable=SC2086
            "${py[@]}" -m espnet_echo.bin.linear_probe --config "${config}" ${ckpt_opts} \
                --normalize_stats "${stats_dir}/train/feats_stats.npz" \
                --data_dir "${dumpdir}/${train_set}" --token_list "${token_list}" \
                --max_utts "${probe_max_utts}" --out "${dir}/probe.json" > "${dir}/log/probe.log" 2>&1 \
                || { log "ERROR: probe failed; see ${dir}/log/probe.log"; tail -n 20 "${dir}/log/probe.log"; exit 1; }
        done
    fi
fi

if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
    for config in ${train_configs}; do
        dir=$(model_dir "${config}")
        log "Stage 6: train ${config} -> ${dir}"
        mkdir -p "${dir}/log"
        # Pretrained weights named by the config's init_param (path:src_key:dst_key).
        init_files=$(conf_value "${config}" init_param | cut -d: -f1)
        for f in ${init_files}; do
            [ -f "${f}" ] || { log "ERROR: ${config} initialises from ${f}, which does not exist (run stage 5 with --pretrain_configs)"; exit 1; }
        done
        # shellcheck disable=SC2086
        state=$(train_state "${dir}" valid.loss.best.pth "${config}" ${init_files})
        if [ "${state}" = done ]; then
            log "  ${dir} is trained; skipped (remove it to retrain)"
            continue
        fi
        [ "${state}" = stale ] && set_aside "${dir}"
        [ "${state}" = todo ] && [ -f "${dir}/checkpoint.pth" ] && log "  ${dir}: resuming from its checkpoint.pth"
        spk_opts=""
        if has_spk_head "${config}"; then
            [ -f "${spk_list}" ] || { log "ERROR: ${config} has a speaker head but ${spk_list} does not exist (run stage 3)"; exit 1; }
            spk_opts="--spk_list ${spk_list}"
        fi
        # shellcheck disable=SC2046,SC2086
        run_train "${dir}" "${dir}/log/train.log" \
            "${py[@]}" -m espnet_echo.bin.echo_train --config "${config}" $(token_opts_if_text) \
            --num_spk "${num_spk}" ${spk_opts} \
            --normalize global_mvn --normalize_conf "stats_file=${stats_dir}/train/feats_stats.npz" \
            $(data_opts train "${dumpdir}/${train_set}" "${config}") \
            $(data_opts valid "${dumpdir}/${valid_set}" "${config}") \
            --train_shape_file "${stats_dir}/train/speech_shape" \
            --valid_shape_file "${stats_dir}/valid/speech_shape" \
            --resume true --output_dir "${dir}" ${train_args} \
            || { log "ERROR: training failed; see $(train_log_hint "${dir}")"; tail -n 30 "${dir}/log/train.log" "${dir}/log/launch.log" 2>/dev/null; exit 1; }
    done
fi

if [ "${stage}" -le 7 ] && [ "${stop_stage}" -ge 7 ]; then
    for config in ${train_configs}; do
        dir=$(model_dir "${config}")
        modes=""
        for mode in ${diar_modes}; do
            case "${mode}" in
                eend) modes+=" eend" ;;
                vbx) if has_spk_head "${config}"; then modes+=" vbx"; else
                        log "  ${config} has no speaker head: no vbx decoding"; fi ;;
                *) log "ERROR: --diar_modes takes eend and vbx, got ${mode}"; exit 1 ;;
            esac
        done
        if [[ " ${modes} " == *" vbx "* ]]; then
            log "Stage 7: PLDA of ${dir} on ${dumpdir}/${train_set} -> ${dir}/plda.npz"
            "${py[@]}" -m espnet_echo.bin.fit_plda --train_config "${dir}/config.yaml" \
                --model_file "${dir}/valid.loss.best.pth" --data_dir "${dumpdir}/${train_set}" \
                --out "${dir}/plda.npz" > "${dir}/log/fit_plda.log" 2>&1 \
                || { log "ERROR: fit_plda failed; see ${dir}/log/fit_plda.log"; tail -n 20 "${dir}/log/fit_plda.log"; exit 1; }
        fi
        for dset in ${test_sets}; do
          for mode in ${modes}; do
            out=${dir}/decode_${dset}
            mode_args="--diar_mode ${mode}"
            if [ "${mode}" = vbx ]; then
                out=${dir}/decode_${dset}_vbx
                mode_args+=" --plda_file ${dir}/plda.npz"
            fi
            logdir=${out}/logdir
            key_file=${dumpdir}/${dset}/wav.scp
            [ -f "${dumpdir}/${dset}/segments" ] && key_file=${dumpdir}/${dset}/segments
            [ -f "${key_file}" ] || { log "ERROR: ${key_file} not found (run stage 2)"; exit 1; }
            num_utts=$(wc -l < "${key_file}")
            [ "${num_utts}" -gt 0 ] || { log "ERROR: ${key_file} is empty"; exit 1; }
            _nj=$(min "${inference_nj}" "${num_utts}")
            log "Stage 7: inference ${dir} (${mode}) on ${dset} in ${_nj} jobs -> ${out}"
            mkdir -p "${logdir}"
            utils/split_data_dir.sh "${dumpdir}/${dset}" "${_nj}" "${logdir}/split${_nj}"
            for d in "${logdir}"/split* "${logdir}"/output.* "${logdir}"/inference.*.log; do
                # what a run with another job count left
                case "${d##*/}" in
                    "split${_nj}") ;;
                    split*) rm -rf "${d}" ;;
                    output.*) [ "${d##*.}" -le "${_nj}" ] 2>/dev/null || rm -rf "${d}" ;;
                    inference.*.log) j=${d%.log}; [ "${j##*.}" -le "${_nj}" ] 2>/dev/null || rm -f "${d}" ;;
                esac
            done
            # Each job skips itself when its hypothesis dir's stamp is current; the jobs
            # share the cores.
            threads=$(( $(nproc) / _nj )); [ "${threads}" -ge 1 ] || threads=1
            # shellcheck disable=SC2086
            if ! utils/run_jobs.sh JOB=1:"${_nj}" "${logdir}/inference.JOB.log" \
                "${py[@]}" -m espnet_echo.bin.echo_inference \
                --train_config "${dir}/config.yaml" --model_file "${dir}/valid.loss.best.pth" \
                --data_dir "${logdir}/split${_nj}/JOB" --output_dir "${logdir}/output.JOB" \
                --num_threads "${threads}" ${mode_args} ${inference_args}; then
                log "ERROR: inference failed; see ${logdir}/inference.*.log"
                for j in $(seq "${_nj}"); do
                    grep -q '^# Ended (code 0)' "${logdir}/inference.${j}.log" \
                        || tail -n 30 "${logdir}/inference.${j}.log"
                done
                exit 1
            fi
            skipped=$(for j in $(seq "${_nj}"); do cat "${logdir}/inference.${j}.log"; done \
                | grep -c "is up to date; skipped" || true)
            [ "${skipped}" -eq 0 ] || log "  ${skipped} of ${_nj} jobs were up to date; skipped"
            merged=${out}/.merged  # the job dirs of the current merge
            job_dirs=$(seq -f "output.%g" "${_nj}")
            current=true
            [ -f "${merged}" ] && [ "$(cat "${merged}")" = "${job_dirs}" ] || current=false
            for j in $(seq "${_nj}"); do
                [ "${logdir}/output.${j}/.stamp.json" -nt "${merged}" ] && current=false
            done
            if "${current}"; then
                log "  ${out} is up to date; skipped"
            else
                rm -f "${merged}"
                merge_decode "${logdir}" "${_nj}" "${out}"
                echo "${job_dirs}" > "${merged}"
            fi
          done
          # A K-set model (sep_head: kset) separates in the latent space: its PIT accuracy,
          # latent SI-SDRi and K-routing against the clean sources' latents, on the first
          # test set (the mixtures of at most num_spk sources the slots are made for).
          if [ "${dset}" = "${test_sets%% *}" ] && [ "$(conf_value "${config}" sep_head)" = kset ] \
              && [ -f "${dumpdir}/${dset}/speech_ref.scp" ]; then
              out=${dir}/kset_${dset}
              if [ -f "${out}/scores.json" ] && [ "${out}/scores.json" -nt "${dir}/valid.loss.best.pth" ] \
                  && [ "${out}/scores.json" -nt "${dumpdir}/${dset}/wav.scp" ]; then
                  log "  ${out} is up to date; skipped"
              else
                  log "Stage 7: latent separation metrics of ${dir} on ${dset} -> ${out}"
                  "${py[@]}" -m espnet_echo.bin.kset_score --train_config "${dir}/config.yaml" \
                      --model_file "${dir}/valid.loss.best.pth" --data_dir "${dumpdir}/${dset}" \
                      --out_dir "${out}" --num_threads "$(nproc)" > "${dir}/log/kset_${dset}.log" 2>&1 \
                      || { log "ERROR: kset_score failed; see ${dir}/log/kset_${dset}.log"; tail -n 20 "${dir}/log/kset_${dset}.log"; exit 1; }
              fi
          fi
        done
    done
fi

if [ "${stage}" -le 8 ] && [ "${stop_stage}" -ge 8 ]; then
    log "Stage 8: scoring -> ${results}"
    scores=()
    for dset in ${test_sets}; do
        for kind in ${baselines}; do
            out=exp/baseline_${kind}/decode_${dset}
            "${py[@]}" -m espnet_echo.bin.make_baseline_hyp --ref_dir "${dumpdir}/${dset}" \
                --out_dir "${out}" --kind "${kind}"
            "${py[@]}" -m espnet_echo.bin.score --ref_dir "${dumpdir}/${dset}" --hyp_dir "${out}" \
                --out_dir "${out}/score" --name "${kind}/${dset}"
            scores+=("${out}/score/scores.json")
        done
        for config in ${train_configs}; do
            dir=$(model_dir "${config}")
            for mode in ${diar_modes}; do
                out=${dir}/decode_${dset}
                name=$(basename "${dir}")/${dset}
                if [ "${mode}" = vbx ]; then
                    has_spk_head "${config}" || continue
                    out=${out}_vbx
                    name=$(basename "${dir}")+vbx/${dset}
                fi
                if [ ! -d "${out}" ]; then
                    log "  ${out} does not exist (run stages 6-7); not scored"
                    continue
                fi
                "${py[@]}" -m espnet_echo.bin.score --ref_dir "${dumpdir}/${dset}" --hyp_dir "${out}" \
                    --out_dir "${out}/score" --name "${name}"
                scores+=("${out}/score/scores.json")
            done
        done
    done
    probes=()
    if [ -n "${probe_set}" ]; then
        first_spk_config=""
        for config in ${train_configs}; do
            has_spk_head "${config}" || continue
            dir=$(model_dir "${config}")
            [ -f "${dir}/valid.loss.best.pth" ] || { log "  ${dir} is not trained; no factorisation probe"; continue; }
            [ -n "${first_spk_config}" ] || first_spk_config=${config}
            out=${dir}/factorisation_probe/probe.json
            if [ -f "${out}" ] && [ "${out}" -nt "${dir}/valid.loss.best.pth" ] && [ "${out}" -nt "${dumpdir}/${probe_set}/wav.scp" ]; then
                log "  ${out} is up to date; skipped"
            else
                log "Stage 8: factorisation probe of ${dir} on ${dumpdir}/${probe_set} -> ${out}"
                "${py[@]}" -m espnet_echo.bin.factorisation_probe --train_config "${dir}/config.yaml" \
                    --model_file "${dir}/valid.loss.best.pth" --data_dir "${dumpdir}/${probe_set}" \
                    --out "${out}"
            fi
            probes+=("${out}")
        done
        if [ -n "${first_spk_config}" ]; then
            # the untrained baseline: the first such config's architecture, initial weights
            dir=$(model_dir "${first_spk_config}")
            out=exp/factorisation_random_init/factorisation_probe/probe.json
            if [ ! -f "${out}" ] || [ "${dumpdir}/${probe_set}/wav.scp" -nt "${out}" ] || [ "${dir}/config.yaml" -nt "${out}" ]; then
                log "Stage 8: factorisation probe of ${first_spk_config} at random init -> ${out}"
                "${py[@]}" -m espnet_echo.bin.factorisation_probe --train_config "${dir}/config.yaml" \
                    --random_init --data_dir "${dumpdir}/${probe_set}" --out "${out}"
            fi
            probes+=("${out}")
        fi
    fi
    pretrain_dirs=()
    for dir in exp/jepa_probe_random $(for c in ${pretrain_configs}; do pretrain_dir "${c}"; done); do
        [ -d "${dir}" ] && pretrain_dirs+=("${dir}")
    done
    protocol_models=()
    if [ "${protocol}" = true ]; then
        # A model initialised from another model of this run is a later stage of it: its
        # row counts the earlier stages' training too.
        declare -A chain_of=()
        for config in ${train_configs}; do
            dir=$(model_dir "${config}")
            chain=""
            for f in $(conf_value "${config}" init_param | cut -d: -f1); do
                prev=$(dirname "${f}")
                if [ -n "${chain_of[${prev}]+x}" ]; then
                    chain=${chain_of[${prev}]:+${chain_of[${prev}]},}${prev}
                fi
            done
            chain_of[${dir}]=${chain}
            protocol_models+=("${dir}${chain:++${chain}}")
        done
    fi
    "${py[@]}" -m espnet_echo.bin.show_results --out "${results}" "${scores[@]}" \
        ${pretrain_dirs[@]+--pretrain_dirs "${pretrain_dirs[@]}"} \
        ${probes[@]+--factorisation_probes "${probes[@]}"} \
        ${protocol_models[@]+--protocol_models "${protocol_models[@]}" --protocol_set "${test_sets%% *}"}
fi
if [ "${stage}" -le 9 ] && [ "${stop_stage}" -ge 9 ]; then
    for config in ${train_configs}; do
        dir=$(model_dir "${config}")
        name=$(basename "${dir}")
        out=${dir}/packed/${name}.zip
        if [ ! -f "${dir}/valid.loss.best.pth" ]; then
            log "Stage 9: ${dir} is not trained (run stage 6); not packed"
            continue
        fi
        # the pack is current when newer than everything it holds or is built from
        inputs=("${dir}/config.yaml" "${dir}/valid.loss.best.pth" "${stats_dir}/train/feats_stats.npz")
        [ -f "${dir}/plda.npz" ] && inputs+=("${dir}/plda.npz")
        [ -f "${results}" ] && inputs+=("${results}")
        current=true
        [ -f "${out}" ] || current=false
        for f in "${inputs[@]}"; do
            if [ -e "${f}" ] && [ "${f}" -nt "${out}" ]; then current=false; fi
        done
        if "${current}"; then
            log "Stage 9: ${out} is up to date; skipped"
            continue
        fi
        log "Stage 9: pack ${dir} -> ${out}"
        mkdir -p "${dir}/log"
        pack_opts=()
        [ -f "${results}" ] && pack_opts+=(--results "${results}")
        [ -n "${data_licence}" ] && pack_opts+=(--data_licence "${data_licence}")
        "${py[@]}" -m espnet_echo.bin.pack --model "${dir}" --outpath "${out}" \
            ${pack_opts[@]+"${pack_opts[@]}"} > "${dir}/log/pack.log" 2>&1 \
            || { log "ERROR: packing failed; see ${dir}/log/pack.log"; tail -n 20 "${dir}/log/pack.log"; exit 1; }
    done
fi

if [ "${stage}" -le 10 ] && [ "${stop_stage}" -ge 10 ]; then
    if [ -z "${hf_repo}" ]; then
        log "Stage 10: no --hf_repo; nothing published"
    else
        config=${hf_model:-${train_configs%% *}}
        dir=$(model_dir "${config}")
        out=${dir}/packed/$(basename "${dir}").zip
        [ -f "${out}" ] || { log "ERROR: ${out} not found (run stage 9)"; exit 1; }
        publish_opts=()
        case "${hf_dry_run}" in
            true) publish_opts+=(--dry_run) ;;
            false) ;;
            *) log "ERROR: --hf_dry_run takes true or false, got '${hf_dry_run}'"; exit 2 ;;
        esac
        log "Stage 10: publish ${out} -> https://huggingface.co/${hf_repo}$([ "${hf_dry_run}" = true ] && echo ' (dry run)')"
        mkdir -p "${dir}/log"
        "${py[@]}" -m espnet_echo.bin.publish --model "${out}" --hf_repo "${hf_repo}" \
            ${publish_opts[@]+"${publish_opts[@]}"} 2>&1 | tee "${dir}/log/publish.log"
    fi
fi
log "Successfully finished."

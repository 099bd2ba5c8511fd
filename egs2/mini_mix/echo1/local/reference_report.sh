#!/usr/bin/env bash
# CPU reference run (issue 12), after its training: decode and score both reference models
# (stages 7-8 of ./run.sh --reference true -> RESULTS_reference.md), then their learning
# curves on the dev split (espnet_echo.bin.learning_curve: EEND decoding of every
# --every'th kept epoch, DER / SI-SDRi / WER / cpWER / K accuracy with the per-K columns,
# and the factorisation probe on the probe split), copied next to RESULTS_reference.md
# (RESULTS_reference_curves.csv/.png) and appended to it with the commands that made it.
#
# Training (stage 6) comes first; the two models may train one after the other
#   ./run.sh --reference true --stage 6 --stop_stage 6
# or side by side, one thread each, as the committed run did:
#   OMP_NUM_THREADS=1 ./run.sh --stage 6 --stop_stage 6 --train_configs conf/tuning/train_echo_reference.yaml &
#   OMP_NUM_THREADS=1 ./run.sh --stage 6 --stop_stage 6 --train_configs conf/tuning/train_ume_ebf_reference.yaml &
# Either resumes after an interruption (stage 6 passes --resume true); a run cut short can
# be closed at the epochs it finished with --train_args "--max_epoch <N>".
# Usage: local/reference_report.sh [--every N (3)]
set -euo pipefail
every=3
if [ "${1:-}" = --every ]; then
    [ $# -ge 2 ] || { echo "Usage: $0 [--every N]: --every needs a value" >&2; exit 2; }
    every=$2
    shift 2
fi
[ $# -eq 0 ] || { echo "Usage: $0 [--every N]" >&2; exit 2; }
[[ "${every}" =~ ^[1-9][0-9]*$ ]] || { echo "$0: --every takes a positive integer, got '${every}'" >&2; exit 2; }
# shellcheck disable=SC1091
. ./path.sh
models="exp/echo_train_echo_reference exp/echo_train_ume_ebf_reference"
for d in ${models}; do
    [ -f "${d}/valid.loss.best.pth" ] || { echo "$0: ${d} is not trained (run stage 6 first, see the header)" >&2; exit 1; }
done
./run.sh --reference true --stage 7 --stop_stage 8
mkdir -p exp/curves_reference
curve_cmd=(python -m espnet_echo.bin.learning_curve --exp_dirs ${models} --data_dir dump/raw/dev
           --out_dir exp/curves_reference --diar_mode eend --every "${every}"
           --probe_data_dir dump/raw/probe --num_threads 1)
"${curve_cmd[@]}" > exp/curves_reference/table.md
cp exp/curves_reference/curves.csv RESULTS_reference_curves.csv
cp exp/curves_reference/curves.png RESULTS_reference_curves.png
{
    echo
    echo "## Learning curves (dev split, EEND; RESULTS_reference_curves.csv/.png)"
    echo
    echo "Made by \`local/reference_report.sh --every ${every}\` in \`egs2/mini_mix/echo1\`:"
    echo
    echo '```'
    echo "./run.sh --reference true --stage 7 --stop_stage 8"
    echo "${curve_cmd[*]}"
    echo '```'
    echo
    echo '```'
    cat exp/curves_reference/table.md
    echo '```'
} >> RESULTS_reference.md
echo "RESULTS_reference.md, RESULTS_reference_curves.csv/.png written"

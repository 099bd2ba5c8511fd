#!/usr/bin/env bash
# Learning curve of K-set routing (issue 11): Echo's latent separation metrics
# (espnet_echo.bin.kset_score: latent SI-SDR(i), PIT accuracy, K-routing accuracy, mean
# |K^-K|) of every kept epoch of a K-set model, on a test set; prints a markdown table.
# Train the model with every epoch kept first, e.g.
#   ./run.sh --stage 6 --stop_stage 6 --train_configs conf/train_echo_kset.yaml \
#       --train_args "--max_epoch 12 --keep_nbest_models 12"
# Usage: local/kset_curve.sh [exp dir (exp/echo_train_echo_kset)] [data dir (dump/raw/test)]
set -euo pipefail
dir=${1:-exp/echo_train_echo_kset}
data=${2:-dump/raw/test}
py=${PYTHON:-python}
[ -f "${dir}/config.yaml" ] || { echo "$0: ${dir}/config.yaml not found (train the model first)" >&2; exit 1; }
[ -f "${data}/wav.scp" ] || { echo "$0: ${data}/wav.scp not found (give a data dir or dump)" >&2; exit 1; }
ls "${dir}"/*epoch.pth > /dev/null 2>&1 || { echo "$0: ${dir} has no <N>epoch.pth (train with --keep_nbest_models)" >&2; exit 1; }
# one output dir per data dir (its path, not only its name)
set_name=$(echo "${data%/}" | tr -c 'A-Za-z0-9_.\n-' '_')
for ckpt in $(ls "${dir}"/*epoch.pth | sort -V); do
    epoch=$(basename "${ckpt}" epoch.pth)
    out=${dir}/kset_curve_${set_name}/${epoch}epoch
    if [ -f "${out}/scores.json" ] && [ "${out}/scores.json" -nt "${ckpt}" ] \
        && [ "${out}/scores.json" -nt "${data}/wav.scp" ]; then
        continue
    fi
    "${py}" -m espnet_echo.bin.kset_score --train_config "${dir}/config.yaml" --model_file "${ckpt}" \
        --data_dir "${data}" --out_dir "${out}" --num_threads 1 > "${dir}/log/kset_curve_${set_name}_${epoch}.log" 2>&1 \
        || { echo "$0: kset_score failed; see ${dir}/log/kset_curve_${set_name}_${epoch}.log" >&2; exit 1; }
done
"${py}" - "${dir}" "${set_name}" << 'PY'
import json
import sys
from pathlib import Path

from espnet_echo.metrics.curves import epoch_axes

exp, set_name = Path(sys.argv[1]), sys.argv[2]
axes = epoch_axes(exp / "log" / "train.log")
print("|epoch|steps|train min|latent SI-SDR (dB)|latent SI-SDRi (dB)|PIT acc (%)|K-routing acc (%)|mean \\|K̂-K\\||")
print("|---|---|---|---|---|---|---|---|")
for d in sorted((exp / f"kset_curve_{set_name}").glob("*epoch"), key=lambda p: int(p.name[:-5])):
    s = json.loads((d / "scores.json").read_text())
    e = int(d.name[:-5])
    a = axes.get(e, {})
    steps = "-" if a.get("steps") is None else f"{a['steps']}"
    minutes = "-" if a.get("minutes") is None else f"{a['minutes']:.1f}"
    print(f"|{e}|{steps}|{minutes}|{s['latent_si_sdr']:+.2f}|{s['latent_si_sdri']:+.2f}|"
          f"{100 * s['pit_acc']:.1f}|{100 * s['k_acc']:.1f}|{s['k_mae']:.2f}|")
PY

#!/usr/bin/env bash
# Copyright 2026 espnet-echo developers
#  Apache 2.0
# VoxCeleb2-Mix (Echo's protocol): 1..max_spk-speaker mixtures of VoxCeleb2 utterances with
# unknown K, speaker-disjoint train/dev/test (test = VoxCeleb2 test speakers by default),
# built by the project's mixture simulator (python -m espnet_echo.bin.prepare_voxceleb2mix)
# -> data/{train,dev,test} (docs/CONTRACT.md; no text_spk{n}: VoxCeleb2 has no transcripts).
# The VoxCeleb2 tree is not downloaded here (it needs the dataset's licence agreement):
# point --vox2_root (or $VOXCELEB2) at <root>/{dev,test}/{aac,wav}/<id>/<video_id>/<n>.{m4a,wav}.
set -euo pipefail
vox2_root=${VOXCELEB2:-downloads/voxceleb2}
meta_csv=""
test_from=vox2_test
num_train_spk=-1
num_dev_spk=20
num_test_spk=-1
num_train=20000
num_dev=500
num_test=1000
min_spk=1
max_spk=4
utts_per_spk=20
max_source_sec=6
overlap_range="0.0 1.0"
snr_range="10 30"
activity_threshold_db=-40
resample=false
seed=0
nj=2

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message=$(cat << EOF2
Usage: $0 [options]   (writes data/{train,dev,test} and data/wav)

Options:
    --vox2_root      # VoxCeleb2 root with dev/ and test/ (each aac/ or wav/) (default="${vox2_root}").
    --meta_csv       # vox2_meta.csv to check the tree against; empty: <root>/vox2_meta.csv if present (default="${meta_csv}").
    --test_from      # Test speakers: vox2_test (VoxCeleb2 test subset) or pool (default="${test_from}").
    --num_train_spk  # Training speakers, -1 = all left (default="${num_train_spk}").
    --num_dev_spk    # Validation speakers (default="${num_dev_spk}").
    --num_test_spk   # Test speakers, -1 = all (default="${num_test_spk}").
    --num_train      # Training mixtures (default="${num_train}").
    --num_dev        # Validation mixtures (default="${num_dev}").
    --num_test       # Test mixtures (default="${num_test}").
    --min_spk        # Fewest speakers in a mixture (default="${min_spk}").
    --max_spk        # Most speakers in a mixture, K_max (default="${max_spk}").
    --utts_per_spk   # Utterances per speaker the mixtures draw from (default="${utts_per_spk}").
    --max_source_sec # Crop longer utterances to this many seconds, 0 = no crop (default="${max_source_sec}").
    --overlap_range  # Overlap ratio range, "<low> <high>" (default="${overlap_range}").
    --snr_range      # Speech-to-noise ratio range in dB, "<low> <high>" (default="${snr_range}").
    --activity_threshold_db # RTTM energy rule: active within this many dB of the loudest 10 ms frame (default="${activity_threshold_db}").
    --resample       # Resample utterances that are not 16 kHz instead of failing (default="${resample}").
    --seed           # Random seed (default="${seed}").
    --nj             # Parallel jobs (default="${nj}").
EOF2
)
. ./path.sh
. utils/parse_options.sh

meta_opts=()
[ -n "${meta_csv}" ] && meta_opts=(--meta_csv "${meta_csv}")
# shellcheck disable=SC2086
python3 -m espnet_echo.bin.prepare_voxceleb2mix --root "${vox2_root}" "${meta_opts[@]}" \
    --out_dir data --wav_dir data/wav --test_from "${test_from}" \
    --num_train_spk "${num_train_spk}" --num_dev_spk "${num_dev_spk}" \
    --num_test_spk "${num_test_spk}" --num_train "${num_train}" --num_dev "${num_dev}" \
    --num_test "${num_test}" --min_spk "${min_spk}" --max_spk "${max_spk}" \
    --utts_per_spk "${utts_per_spk}" --max_source_sec "${max_source_sec}" \
    --overlap_range ${overlap_range} --snr_range ${snr_range} \
    --activity_threshold_db "${activity_threshold_db}" --resample "${resample}" \
    --seed "${seed}" --nj "${nj}"

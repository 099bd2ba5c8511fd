#!/usr/bin/env bash
# Copyright 2026 espnet-echo developers
#  Apache 2.0
# VoxCeleb2-Mix, Echo's protocol: mixtures of 1..4 VoxCeleb2 speakers with unknown K,
# speaker-disjoint splits (test = VoxCeleb2 test speakers). No transcripts: the model has
# no ASR head; the EEND, separation and ArcFace speaker heads are on, and stage 7 decodes
# with EEND and blind (ArcFace + PLDA + VBx) diarization. See README.md.
# Every option goes to echo.sh after the recipe's own settings, so it overrides them; set
# the corpus with --local_data_opts "--vox2_root /path/to/voxceleb2 ..." (or $VOXCELEB2).
set -euo pipefail

for arg in "$@"; do
    if [ "${arg}" = --help ] || [ "${arg}" = -h ]; then
        cat >&2 << EOF
Usage: $0 --local_data_opts "--vox2_root <VoxCeleb2 dir> [local/data.sh options]" [echo.sh options]

The corpus: --local_data_opts "--vox2_root /path/to/voxceleb2" (or the environment
variable VOXCELEB2); local/data.sh --help lists the mixture options.
This recipe's settings, given to echo.sh before your options (so yours override them):
    --num_spk 4 --token_type char --train_configs conf/train_echo25m.yaml
    --test_sets test --diar_modes "eend vbx" --results RESULTS.md
echo.sh's options (the defaults shown are echo.sh's own):
EOF
        ./echo.sh --help
        exit 0
    fi
done

./echo.sh \
    --num_spk 4 \
    --token_type char \
    --train_configs conf/train_echo25m.yaml \
    --test_sets test \
    --diar_modes "eend vbx" \
    --results RESULTS.md \
    "$@"

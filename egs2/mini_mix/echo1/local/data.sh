#!/usr/bin/env bash
# Copyright 2026 espnet-echo developers
#  Apache 2.0
# Offline corpus of the mini recipe: flite/espeak-ng voices reading KJV sentences, mixed
# into 1..max_spk-speaker mixtures with noise (espnet_echo.bin.simulate) -> data/<split>,
# plus, with the test speakers, long conversations to diarize (data/test_conv) and a
# speaker x sentence probe set (data/probe). The mixtures do not depend on the latter two.
set -euo pipefail
num_train=600
num_dev=60
num_test=100
min_spk=1
max_spk=3
overlap_range="0.0 1.0"
snr_range="10 30"
min_words=4
max_words=16
num_test_conv=16
conv_min_sec=60
conv_max_sec=150
conv_min_spk=2
conv_max_spk=5
num_probe_sentences=12
seed=0
nj=2

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message=$(cat << EOF
Usage: $0 [options]   (writes data/{train,dev,test,test_conv,probe} and data/wav)

Options:
    --num_train      # Training mixtures (default="${num_train}").
    --num_dev        # Validation mixtures (default="${num_dev}").
    --num_test       # Test mixtures (default="${num_test}").
    --min_spk        # Fewest speakers in a mixture (default="${min_spk}").
    --max_spk        # Most speakers in a mixture (default="${max_spk}").
    --overlap_range  # Overlap ratio range, "<low> <high>" (default="${overlap_range}").
    --snr_range      # Speech-to-noise ratio range in dB, "<low> <high>" (default="${snr_range}").
    --min_words      # Fewest words of a sentence (default="${min_words}").
    --max_words      # Most words of a sentence (default="${max_words}").
    --num_test_conv  # Conversations of test speakers taking turns with pauses and 5-20 %
                     # overlapped speech, in data/test_conv; 0 writes none (default="${num_test_conv}").
    --conv_min_sec   # Shortest conversation in seconds (default="${conv_min_sec}").
    --conv_max_sec   # Longest conversation in seconds (default="${conv_max_sec}").
    --conv_min_spk   # Fewest speakers in a conversation (default="${conv_min_spk}").
    --conv_max_spk   # Most speakers in a conversation (default="${conv_max_spk}").
    --num_probe_sentences # Sentences spoken by every test speaker (single-speaker, noise-free)
                     # in data/probe; 0 writes none (default="${num_probe_sentences}").
    --seed           # Random seed (default="${seed}").
    --nj             # Parallel synthesis jobs (default="${nj}").
EOF
)
. ./path.sh
. utils/parse_options.sh

# shellcheck disable=SC2086
python3 -m espnet_echo.bin.simulate --out_dir data --wav_dir data/wav \
    --num_train "${num_train}" --num_dev "${num_dev}" --num_test "${num_test}" \
    --min_spk "${min_spk}" --max_spk "${max_spk}" --overlap_range ${overlap_range} \
    --snr_range ${snr_range} --min_words "${min_words}" --max_words "${max_words}" \
    --num_test_conv "${num_test_conv}" --conv_min_sec "${conv_min_sec}" \
    --conv_max_sec "${conv_max_sec}" --conv_min_spk "${conv_min_spk}" \
    --conv_max_spk "${conv_max_spk}" --num_probe_sentences "${num_probe_sentences}" \
    --seed "${seed}" --nj "${nj}"

#!/usr/bin/env bash
# Copyright 2026 espnet-echo developers
#  Apache 2.0
# AMI meetings -> data/<split> (whole recordings, reference RTTM and UEM of
# AMI-diarization-setup; espnet_echo.bin.prepare_ami). Nothing is downloaded: see README.md.
set -euo pipefail
ami_root=""          # the amicorpus dir: <ami_root>/<meeting>/audio/<meeting>.Mix-Headset.wav
setup_root=""        # checkout of https://github.com/BUTSpeechFIT/AMI-diarization-setup
splits="dev test"    # of the Full-corpus-ASR partition: train dev test
mic=ihm-mix          # ihm-mix (Mix-Headset) or sdm (Array1-01)
reference=only_words # only_words or word_and_vocalsounds
fs=16000

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message=$(cat << EOH
Usage: $0 --ami_root <amicorpus> --setup_root <AMI-diarization-setup> [options]
    (writes data/<split> for every split)

Options:
    --ami_root    # The amicorpus dir of the AMI download (default="${ami_root}").
    --setup_root  # Checkout of BUTSpeechFIT/AMI-diarization-setup (default="${setup_root}").
    --splits      # Splits to prepare, space-separated: train dev test (default="${splits}").
    --mic         # ihm-mix (<meeting>.Mix-Headset.wav) or sdm (<meeting>.Array1-01.wav) (default="${mic}").
    --reference   # Reference RTTMs: only_words or word_and_vocalsounds (default="${reference}").
    --fs          # Sample rate the model expects; other rates are an error (default="${fs}").
EOH
)
. ./path.sh
. utils/parse_options.sh

if [ -z "${ami_root}" ] || [ -z "${setup_root}" ]; then
    echo "$0: --ami_root and --setup_root are required (see README.md: the AMI audio and the AMI-diarization-setup checkout)" >&2
    exit 1
fi
# shellcheck disable=SC2086
python3 -m espnet_echo.bin.prepare_ami --ami_root "${ami_root}" --setup_root "${setup_root}" \
    --out_dir data --splits ${splits} --mic "${mic}" --reference "${reference}" --fs "${fs}"

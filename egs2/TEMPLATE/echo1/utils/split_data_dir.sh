#!/usr/bin/env bash
# Copyright 2026 espnet-echo developers
#  Apache 2.0
# Split a data dir for parallel decoding (written for espnet-echo):
#
#   utils/split_data_dir.sh <data_dir> <n> <out_dir>
#
# writes the data dirs <out_dir>/1 .. <out_dir>/<n>. The key file (segments when the data
# dir has one, else wav.scp) is cut into n contiguous parts whose sizes differ by at most
# one, as ESPnet's split_scp.pl cuts it; with segments, each part also gets the wav.scp
# lines of the recordings its segments come from (a recording whose segments straddle a
# cut is listed in both parts). Lines are copied as they are (paths with spaces, pipes).
# <out_dir> is built beside itself and swapped in.
set -euo pipefail
if [ $# -ne 3 ]; then
    echo "Usage: $0 <data_dir> <n> <out_dir>" >&2
    exit 2
fi
src=$1
n=$2
dir=$3
key=wav.scp
[ -f "${src}/segments" ] && key=segments
[ -f "${src}/${key}" ] || { echo "$0: ${src}/${key} not found" >&2; exit 1; }
lines=$(wc -l < "${src}/${key}")
if ! [[ "${n}" =~ ^[0-9]+$ ]] || [ "${n}" -lt 1 ] || [ "${n}" -gt "${lines}" ]; then
    echo "$0: cannot cut the ${lines} lines of ${src}/${key} into '${n}' parts" >&2
    exit 1
fi
rm -rf "${dir}.tmp"
for j in $(seq "${n}"); do mkdir -p "${dir}.tmp/${j}"; done
if [ "${key}" = segments ]; then
    awk -v n="${n}" -v lines="${lines}" -v dir="${dir}.tmp" '
        NR == FNR {
            j = int((FNR - 1) * n / lines) + 1
            print > (dir "/" j "/segments")
            if (!(($2, j) in seen)) { seen[$2, j] = 1; jobs[$2] = jobs[$2] " " j }
            next
        }
        $1 in jobs {
            k = split(jobs[$1], js, " ")
            for (i = 1; i <= k; i++) print > (dir "/" js[i] "/wav.scp")
        }' "${src}/segments" "${src}/wav.scp"
else
    awk -v n="${n}" -v lines="${lines}" -v dir="${dir}.tmp" \
        '{ print > (dir "/" (int((NR - 1) * n / lines) + 1) "/wav.scp") }' "${src}/wav.scp"
fi
rm -rf "${dir}"
mv "${dir}.tmp" "${dir}"

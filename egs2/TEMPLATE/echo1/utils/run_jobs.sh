#!/usr/bin/env bash
# Copyright 2026 espnet-echo developers
#  Apache 2.0
# Run a command as parallel jobs on this machine, as Kaldi's run.pl does with JOB=1:N
# (written for espnet-echo; no Kaldi checkout needed):
#
#   utils/run_jobs.sh JOB=1:4 exp/x/logdir/inference.JOB.log python3 -m tool --part JOB
#
# starts the 4 jobs at once, "JOB" in the log path and in every argument replaced by the
# job number. The command runs as given (no shell re-parsing of its arguments), with no
# standard input; its output goes to its log, which starts with the command line and ends
# with "# Ended (code N)". Exits 0 when every job exited 0; otherwise 1, naming the failed
# jobs and their logs.
set -u

usage() {
    echo "Usage: $0 JOB=<first>:<last> <log, with JOB> <command> [<arg> ...]" >&2
    exit 2
}
[ $# -ge 3 ] || usage
case "$1" in
    JOB=*:*) range=${1#JOB=} ;;
    *) usage ;;
esac
first=${range%%:*}
last=${range#*:}
if ! [[ "${first}" =~ ^[0-9]+$ && "${last}" =~ ^[0-9]+$ ]] || [ "${first}" -gt "${last}" ]; then
    echo "$0: bad job range '$1' (want JOB=<first>:<last>, first <= last)" >&2
    exit 2
fi
log_pattern=$2
shift 2
case "${log_pattern}" in
    *JOB*) ;;
    *) [ "${first}" -eq "${last}" ] \
        || { echo "$0: the log path '${log_pattern}' must contain JOB" >&2; exit 2; } ;;
esac

pids=()
for ((j = first; j <= last; j++)); do
    job_log=${log_pattern//JOB/${j}}
    cmd=()
    for arg in "$@"; do cmd+=("${arg//JOB/${j}}"); done
    mkdir -p "$(dirname "${job_log}")"
    (
        {
            printf '#'; printf ' %q' "${cmd[@]}"; printf '\n'
            echo "# Started at $(date)"
        } > "${job_log}"
        start=${SECONDS}
        "${cmd[@]}" < /dev/null >> "${job_log}" 2>&1
        rc=$?
        {
            echo "# Accounting: time=$((SECONDS - start))"
            echo "# Ended (code ${rc}) at $(date)"
        } >> "${job_log}"
        exit "${rc}"
    ) &
    pids+=($!)
done

failed=()
for i in "${!pids[@]}"; do
    wait "${pids[${i}]}" || failed+=($((first + i)))
done
if [ ${#failed[@]} -ne 0 ]; then
    echo "$0: ${#failed[@]} of $((last - first + 1)) jobs failed (job ${failed[*]});" \
        "see ${log_pattern//JOB/${failed[0]}}" >&2
    exit 1
fi

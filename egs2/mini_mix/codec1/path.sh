# Copyright 2026 espnet-echo developers
#  Apache 2.0
# Environment of espnet-echo recipes: the repository's virtualenv (created by
# tools/install.sh), C locale, UTF-8 I/O.
MAIN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)  # recipes sit at egs2/<corpus>/<recipe>
if [ -z "${VIRTUAL_ENV:-}" ] && [ -f "${MAIN_ROOT}/.venv/bin/activate" ]; then
    # shellcheck disable=SC1091
    . "${MAIN_ROOT}/.venv/bin/activate"
fi
export PATH="${MAIN_ROOT}/egs2/TEMPLATE/echo1/utils:${PATH}"
export LC_ALL=C
export PYTHONIOENCODING=UTF-8
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}

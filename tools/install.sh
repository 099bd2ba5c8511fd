#!/usr/bin/env bash
# The one install path of espnet-echo: system packages for the offline corpus, then a
# Python 3.12/3.13 virtualenv at $1 (default .venv) with espnet_echo installed in editable mode.
# A no-op when the venv's stamp is newer than setup.py and pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}
stamp="${venv}/.installed"

# --- system packages: TTS voices, public-domain text, reference codecs -----------------------------------
need=()
command -v flite >/dev/null || need+=(flite)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v bible >/dev/null || need+=(bible-kjv)
# codec anchors of the tokenizer recipe (egs2/mini_mix/codec1): Codec2 and Opus
command -v c2enc >/dev/null || need+=(codec2)
command -v opusenc >/dev/null || need+=(opus-tools)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "install.sh: installing Debian packages: ${need[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "install.sh: missing Debian packages: ${need[*]}" >&2
        echo "install.sh: run: sudo apt-get install ${need[*]}" >&2
        exit 1
    fi
fi

# --- Python --------------------------------------------------------------------------------
if [ -f "${stamp}" ] && [ "${stamp}" -nt setup.py ] && [ "${stamp}" -nt pyproject.toml ]; then
    exit 0
fi
# espnet 202611 needs Python >= 3.12. $PYTHON wins; else the first 3.12/3.13 found on PATH
# or in pyenv.
py_ok() { "$1" -c 'import sys; sys.exit(not (3, 12) <= sys.version_info[:2] < (3, 14))' 2>/dev/null; }
python=""
if [ -n "${PYTHON:-}" ]; then
    py_ok "${PYTHON}" || { echo "install.sh: PYTHON=${PYTHON} is not Python 3.12 or 3.13" >&2; exit 1; }
    python=${PYTHON}
else
    for c in python3.12 python3.13 python3; do
        if command -v "$c" >/dev/null && py_ok "$c"; then python=$c; break; fi
    done
    if [ -z "${python}" ] && command -v pyenv >/dev/null; then
        for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.1[23]\.[0-9]+$' | sort -V); do
            c="$(pyenv root)/versions/$v/bin/python3"
            if py_ok "$c"; then python=$c; break; fi
        done
    fi
fi
if [ -z "${python}" ]; then
    echo "install.sh: no Python 3.12 or 3.13 found (espnet 202611 requires >= 3.12)." >&2
    echo "install.sh: install one (e.g. 'apt-get install python3.12-venv', 'pyenv install 3.12'," >&2
    echo "install.sh: or 'uv python install 3.12') and rerun, or set PYTHON=/path/to/python3.12" >&2
    exit 1
fi
echo "install.sh: using $("${python}" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
start=$(date +%s)
if [ -x "${venv}/bin/python" ] && ! py_ok "${venv}/bin/python"; then
    echo "install.sh: ${venv} holds an older Python; recreating it" >&2
    rm -rf "${venv}"
fi
[ -x "${venv}/bin/python" ] || "${python}" -m venv "${venv}"
# espnet 202611 pins setuptools <82 (>= 77.0.3)
"${venv}/bin/python" -m pip install -q "setuptools>=77.0.3,<82" wheel
"${venv}/bin/python" -m pip install -q -e ".[test]"
touch "${stamp}"
echo "install.sh: installed into ${venv} in $(( $(date +%s) - start )) s"

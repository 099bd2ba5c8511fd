#!/usr/bin/env bash
# The one install path of espnet-echo: system packages for the offline corpus, then a
# Python 3.11 virtualenv at $1 (default .venv) with espnet_echo installed in editable mode.
# A no-op when the venv's stamp is newer than setup.py.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}
stamp="${venv}/.installed"

# --- system packages: TTS voices, public-domain text -----------------------------------
need=()
command -v flite >/dev/null || need+=(flite)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v bible >/dev/null || need+=(bible-kjv)
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
if [ -f "${stamp}" ] && [ "${stamp}" -nt setup.py ]; then
    exit 0
fi
python=${PYTHON:-python3.11}
command -v "${python}" >/dev/null || { echo "install.sh: ${python} not found (Python 3.11 is required)" >&2; exit 1; }
start=$(date +%s)
[ -x "${venv}/bin/python" ] || "${python}" -m venv "${venv}"
# pip stays at the venv's bundled version: pip>=25 rejects ci_sdr's (extra-only)
# direct-URL dependency on padertorch, which espnet requires.
"${venv}/bin/python" -m pip install -q "setuptools<74" wheel
"${venv}/bin/python" -m pip install -q -e ".[test]"
touch "${stamp}"
echo "install.sh: installed into ${venv} in $(( $(date +%s) - start )) s"

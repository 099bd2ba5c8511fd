#!/usr/bin/env bash
# Copyright 2026 espnet-echo developers
#  Apache 2.0
#
# Bench-only virtualenv for bench/pyannote_rtf.py: pyannote.audio 4.x (CPU), kept apart
# from the project's .venv (never installed there).
#
#   bash bench/pyannote_env.sh          # creates bench/.venv-pyannote (skips if done)
#   bench/.venv-pyannote/bin/python bench/pyannote_rtf.py --help
#
# Python: 3.11 (pyenv 3.11.7 by default; override with PYANNOTE_PYTHON=/path/to/python).
# Why 3.11 and not 3.12/3.13: the only CPU-only torch wheel on this machine's disk is
# /opt/wheels/torch-2.13.0+cpu-cp311-*.whl; on 3.12/3.13 pip would pull the CUDA build
# of torch and its nvidia-* wheels from PyPI (several GB) for a CPU-only benchmark, and
# download.pytorch.org is not reachable. pyannote.audio 4 needs Python >= 3.10 and
# torch >= 2.8, torchaudio >= 2.8 (torchaudio 2.11 needs torch >= 2.11), so 3.11 +
# torch 2.13.0+cpu satisfies everything. Override the torch requirement with
# PYANNOTE_TORCH (a pip requirement or a wheel path).
#
# Exact versions installed are written to bench/.venv-pyannote/versions.txt
# (pip freeze) and printed at the end. Installed here on 2026-11-30: Python 3.11.7,
# pyannote.audio 4.0.7, pyannote.core 6.1.0, pyannote.pipeline 4.1.0, torch 2.13.0+cpu,
# torchaudio 2.11.1, torchcodec 0.17.0, lightning 2.6.6, asteroid-filterbanks 0.4.0,
# numpy 2.4.6, scipy 1.17.1, scikit-learn 1.9.1 (pin with PYANNOTE_REQ=... to repeat).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
venv=${PYANNOTE_VENV:-$here/.venv-pyannote}
pyannote_req=${PYANNOTE_REQ:-pyannote.audio>=4,<5}

default_python=$HOME/.pyenv/versions/3.11.7/bin/python3.11
if [ -z "${PYANNOTE_PYTHON:-}" ]; then
    if [ -x "$default_python" ]; then
        PYANNOTE_PYTHON=$default_python
    else
        PYANNOTE_PYTHON=$(command -v python3.11 || true)
    fi
fi
if [ -z "$PYANNOTE_PYTHON" ]; then
    echo "pyannote_env.sh: no python3.11 found; set PYANNOTE_PYTHON" >&2
    exit 1
fi

if [ -z "${PYANNOTE_TORCH:-}" ]; then
    local_whl=$(ls /opt/wheels/torch-2.13.0+cpu-cp311-cp311-*.whl 2>/dev/null | head -n1 || true)
    if [ -n "$local_whl" ]; then
        PYANNOTE_TORCH=$local_whl
    else
        PYANNOTE_TORCH="torch>=2.11"
    fi
fi

check() {
    "$venv/bin/python" - <<'EOF' 2>/dev/null
import importlib.metadata as md
import sys
v = md.version("pyannote.audio")
import torch, torchaudio, pyannote.audio  # noqa: F401,E401
sys.exit(0 if v.split(".")[0] == "4" else 1)
EOF
}

# PyPI's Linux torchaudio wheels (2.11.1 here) are built against CUDA torch: their
# compiled extension (_torchaudio.so, libtorchaudio.so, ...) needs libc10_cuda.so, which
# the CPU torch wheel lacks, and `import torchaudio` then fails. pyannote only uses
# torchaudio's pure-PyTorch parts (torchaudio.compliance.kaldi.fbank in WeSpeaker,
# torchaudio.transforms in debug models), so the extension is moved aside into
# torchaudio/lib/disabled/: torchaudio's loader then reports "no extension" (as for a
# pex deployment) and imports fine. Only its C++ ops (forced alignment, lfilter, RNN-T
# loss, CTC decoders) become unavailable; none is used by the diarization pipeline.
disable_cuda_torchaudio_ext() {
    local lib
    lib=$("$venv/bin/python" -c 'import importlib.util, os; print(os.path.join(os.path.dirname(importlib.util.find_spec("torchaudio").origin), "lib"))')
    local err
    if err=$("$venv/bin/python" -c 'import torchaudio' 2>&1); then
        return 0
    fi
    if grep -q 'libc10_cuda\|libcudart\|cuda' <<<"$err"; then
        echo "pyannote_env.sh: torchaudio extension is CUDA-linked; moving it to $lib/disabled/"
        mkdir -p "$lib/disabled"
        mv "$lib"/*.so "$lib/disabled/"
    fi
}

if [ -x "$venv/bin/python" ]; then
    disable_cuda_torchaudio_ext || true
fi
if [ -x "$venv/bin/python" ] && check; then
    echo "pyannote_env.sh: $venv already has pyannote.audio 4 (skipping install)"
else
    if [ ! -x "$venv/bin/python" ]; then
        "$PYANNOTE_PYTHON" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --upgrade pip
    # torch first, from the local CPU wheel; then pin it so that resolving
    # pyannote.audio never swaps it for a CUDA build from PyPI.
    "$venv/bin/python" -m pip install "$PYANNOTE_TORCH"
    tv=$("$venv/bin/python" -c 'import torch; print(torch.__version__)')
    cons=$(mktemp)
    trap 'rm -f "$cons"' EXIT
    echo "torch==$tv" >"$cons"
    PIP_CONSTRAINT="$cons" "$venv/bin/python" -m pip install "$pyannote_req" "torchaudio>=2.8"
    disable_cuda_torchaudio_ext
    check || { echo "pyannote_env.sh: install finished but import check failed" >&2; exit 1; }
fi

"$venv/bin/python" -m pip freeze --all >"$venv/versions.txt"
"$venv/bin/python" - <<'EOF'
import importlib.metadata as md, sys
for p in ["pyannote.audio", "pyannote.core", "pyannote.pipeline", "torch", "torchaudio",
          "torchcodec", "lightning", "asteroid-filterbanks", "numpy", "scipy",
          "scikit-learn"]:
    try:
        print(f"{p}=={md.version(p)}")
    except md.PackageNotFoundError:
        print(f"{p}: not installed")
print("python", sys.version.split()[0])
EOF
echo "pyannote_env.sh: full list in $venv/versions.txt"

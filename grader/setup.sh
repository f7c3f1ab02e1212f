#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image: bubblewrap for the sandbox, then
# backprop_ninja in a virtual environment of its own (current Debian and Ubuntu images refuse pip installs into the
# system's Python, PEP 668), with torch's CPU build from PyTorch's CPU index at the version constraints.txt pins,
# so that no CUDA package is fetched. run_autograder runs that environment's Python. A second run changes nothing
# that is already there.
# For a trial elsewhere: BACKPROP_NINJA_VENV is where the environment goes (default /opt/backprop-ninja-venv),
# BACKPROP_NINJA_PACKAGE what pip installs as backprop_ninja (default: the wheel in dist/).
set -euo pipefail
cd "$(dirname "$0")"
venv="${BACKPROP_NINJA_VENV:-/opt/backprop-ninja-venv}"
if [ -n "${BACKPROP_NINJA_PACKAGE:-}" ]; then
    package=("$BACKPROP_NINJA_PACKAGE")
else
    package=(dist/backprop_ninja-*.whl)
fi

# apt only where something is missing, so that a second run does not need it
needed=(python3 python3-venv bubblewrap)
if ! dpkg -s "${needed[@]}" > /dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${needed[@]}" > /dev/null
fi

# The system's Python, the one apt installed venv for, whatever else is on PATH.
/usr/bin/python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q -c constraints.txt --index-url https://download.pytorch.org/whl/cpu torch
"$venv/bin/python" -m pip install -q -c constraints.txt "${package[@]}"
"$venv/bin/ninja" --version
"$venv/bin/python" -c 'import torch; print("torch", torch.__version__)'

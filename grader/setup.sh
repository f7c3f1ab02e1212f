#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder's image: bubblewrap for the sandbox, then
# backprop_ninja from the wheel shipped in the zip (dist/), with CPU-only torch.
set -euo pipefail
cd "$(dirname "$0")"
apt-get update -qq
apt-get install -y -qq python3 python3-pip bubblewrap > /dev/null
python3 -m pip install -q --extra-index-url https://download.pytorch.org/whl/cpu dist/backprop_ninja-*.whl

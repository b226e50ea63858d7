#!/bin/bash
# TensorBoard's event files and launch/plot.py, read by the tools researchers use: a short run
# that measures FD and IS twice is read back with the tensorboard package's own event reader and
# checked against its metrics.jsonl and sample grids (launch/ci/check-events.py), then plotted.
# The tensorboard package comes from PyPI into a venv in .build made from Debian's python3, whose
# own packages it also sees: matplotlib is Debian's (launch/setup.sh --slurm installs
# python3-venv and python3-matplotlib).
#
#   bash launch/ci/tensorboard-test.sh DISTRIBUTED
set -euo pipefail
(( $# == 1 )) || { echo "usage: $0 DISTRIBUTED" >&2; exit 2; }
executable=$(realpath "$1")
cd "$(dirname "$0")/../.."

venv=.build/test-python
if ! "$venv/bin/python" -c "import tensorboard" 2>/dev/null; then
    /usr/bin/python3 -m venv --system-site-packages "$venv" || { echo "tensorboard-test: cannot make a venv (apt-get install python3-venv)" >&2; exit 1; }
    "$venv/bin/pip" install -q tensorboard \
        || { echo "tensorboard-test: pip could not install tensorboard from PyPI (is PyPI reachable?)" >&2; exit 1; }
fi

work=$(mktemp -d /tmp/tensorboard-test.XXXXXX)
trap 'status=$?; if (( status == 0 )); then rm -rf "$work"; else echo "tensorboard-test: logs kept in $work" >&2; fi' EXIT
# A feature network trained for a few steps: FD and IS only need to be numbers here.
"$executable" classifier --steps 30 --out "$work/classifier.safetensors" >"$work/classifier.log" 2>&1 \
    || { cat "$work/classifier.log" >&2; exit 1; }
"$executable" train --config configs/fashion-mnist.json --out "$work/run" --steps 40 log_every=5 sample_every=20 \
    score_every=20 score_images=200 score_features="$work/classifier.safetensors" >"$work/train.log" 2>&1 \
    || { cat "$work/train.log" >&2; exit 1; }
"$venv/bin/python" launch/ci/check-events.py "$work/run"
"$venv/bin/python" launch/plot.py "$work/run" --out "$work/curves.png"
[[ -s $work/curves.png ]] || { echo "tensorboard-test: FAILED: launch/plot.py wrote no figure" >&2; exit 1; }
echo "tensorboard-test: passed"

#!/bin/bash
# Our Inception v3 forward pass against pytorch-fid's, back to back on this machine, alternating
# ROUNDS times so that both see the same load: images/s of each per round, then the medians and
# their ratio. Both run the same random weights (calibrated so activations stay O(1); made by
# launch/bench-pytorch-fid.py and converted by launch/convert-inception.py, which is so tested
# too) on BATCH uniform-noise RGB images of SIZE x SIZE pixels, resized to 299x299 by each.
# pytorch-fid's side needs a Python with pytorch-fid, torch, torchvision, numpy and safetensors,
# and the twin ../shared/anchors/cqf_ref.py (or the folder CQF_TWIN names), which the random
# weights' Philox comes through (Tests/make_inception_fixtures.py, Tests/make_model_fixtures.py):
#
#   python3 -m venv /tmp/fid && /tmp/fid/bin/pip install pytorch-fid safetensors
#   launch/compare-inception.sh [THREADS] [BATCH] [ROUNDS] [SIZE]   # defaults 1 50 5 32
#
# FID_PYTHON overrides the venv's python. Quote the medians of a quiet machine: a busy one slows
# whichever side it happens to interrupt.
set -euo pipefail
cd "$(dirname "$0")/.."

threads=${1:-1}
batch=${2:-50}
rounds=${3:-5}
size=${4:-32}
python=${FID_PYTHON:-/tmp/fid/bin/python}
[[ -x $python ]] || { echo "compare-inception: no $python; make the venv as this script's header says" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
swift build -c release >/dev/null
"$python" launch/bench-pytorch-fid.py --make-weights "$work/random.pth"
"$python" launch/convert-inception.py "$work/random.pth" "$work/random.safetensors" >/dev/null

for (( round = 1; round <= rounds; round++ )); do
    .build/release/Distributed bench --inception --weights "$work/random.safetensors" \
        --batch "$batch" --size "$size" --threads "$threads" --steps 3 | tail -n 1 >>"$work/ours.jsonl"
    "$python" launch/bench-pytorch-fid.py --weights "$work/random.pth" \
        --batch "$batch" --size "$size" --threads "$threads" --steps 3 | tail -n 1 >>"$work/theirs.jsonl"
done
python3 - "$work/ours.jsonl" "$work/theirs.jsonl" "$threads" "$batch" "$size" <<'PY'
import json, statistics, sys
ours = [json.loads(line)["images_per_s"] for line in open(sys.argv[1])]
theirs = [json.loads(line)["images_per_s"] for line in open(sys.argv[2])]
print(f"threads {sys.argv[3]}, batch {sys.argv[4]}, {sys.argv[5]}x{sys.argv[5]} images resized to 299x299, images/s per round:")
for i, (a, b) in enumerate(zip(ours, theirs), 1):
    print(f"  round {i}: ours {a:7.2f}  pytorch-fid {b:7.2f}  ratio {a / b:5.2f}")
a, b = statistics.median(ours), statistics.median(theirs)
print(f"median: ours {a:.2f} images/s, pytorch-fid {b:.2f} images/s, ratio {a / b:.2f}")
PY

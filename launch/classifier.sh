#!/bin/bash
# The Fashion-MNIST classifier in whose features FD and IS are measured (configs/fashion-mnist.json's
# score_features): trained once with `Distributed classifier` when the file is missing (about
# 3 minutes on 2 cores), then kept. Prints nothing when it is already there.
#
#   bash launch/classifier.sh [EXECUTABLE]      (default .build/release/Distributed)
set -euo pipefail
cd "$(dirname "$0")/.."

classifier=runs/classifier/fashion-mnist.safetensors
[[ -f $classifier ]] && exit 0
mkdir -p "$(dirname "$classifier")"
echo "classifier: training the classifier that FD and IS are measured with, once: $classifier"
exec "${1:-.build/release/Distributed}" classifier --dataset fashion-mnist --out "$classifier"

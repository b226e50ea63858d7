#!/bin/bash
# The main job, from a fresh Debian machine: installs what is missing (as root), builds, and
# trains the default config (cqf on Fashion-MNIST from Debian's dataset-fashion-mnist) with
# progress on the terminal, writing samples and checkpoints into runs/default. Extra arguments
# go to `Distributed train` (e.g. --steps 200, or --resume to continue). The first time, it also
# trains the Fashion-MNIST classifier whose features the run's FD and IS are measured in.
#
#   bash launch/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

command -v swift >/dev/null || { echo "run: no Swift toolchain on PATH; install Swift 6 from swift.org" >&2; exit 1; }
bash launch/setup.sh
swift build -c release
bash launch/classifier.sh
exec .build/release/Distributed train --config configs/fashion-mnist.json --out runs/default "$@"

#!/bin/bash
# Every test of the project, from a fresh Debian machine: installs what is missing (as root),
# builds in release mode, runs the XCTest suites (engine, model, data, IO, the CLI under
# mpirun), then the fault tests under mpirun, the card's `mpirun -n 16 swift run Distributed`
# (with 4 ranks), TensorBoard's event files read back by tensorboard, the Slurm
# signal-and-requeue test and the simulated three-node cluster (network namespaces: TCP between
# nodes, node loss, a slow and lossy link).
#
#   bash launch/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

command -v swift >/dev/null || { echo "test: no Swift toolchain on PATH; install Swift 6 from swift.org" >&2; exit 1; }
bash launch/setup.sh --slurm
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

swift build -c release
# -enable-testing keeps @testable imports working in release mode (debug builds of numeric
# code run 10-100x slower); XCTest alone, so the summary counts the tests that ran.
swift test -c release -Xswiftc -enable-testing --disable-swift-testing

bash launch/ci/mpi-fault-tests.sh .build/release/Distributed
bash launch/ci/card-command-test.sh
bash launch/ci/tensorboard-test.sh .build/release/Distributed
# Runs a test that exits 77 (after saying why) when this machine cannot host it.
skippable() {
    local name=$1 status=0
    shift
    "$@" || status=$?
    if (( status == 77 )); then echo "test: the $name test was skipped (reason above)"
    elif (( status != 0 )); then echo "test: the $name test failed" >&2; exit "$status"; fi
}
skippable Slurm bash launch/ci/slurm-test.sh bash launch/ci/slurm-requeue-test.sh .build/release/Distributed
skippable simulated-cluster bash launch/ci/netns-cluster-test.sh .build/release/Distributed
echo "test: all tests passed"

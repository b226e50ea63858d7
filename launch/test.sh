#!/bin/bash
# Every test of the project, from a fresh Debian machine: installs what is missing (as root),
# builds in release mode, runs the XCTest suites (engine, model, data, IO, the CLI under
# mpirun), then the fault tests under mpirun, the card's `mpirun -n 16 swift run Distributed`
# (with 4 ranks), TensorBoard's event files read back by tensorboard, a short fuzzing of every
# file parser, the Slurm signal-and-requeue test and the simulated three-node cluster (network
# namespaces: TCP between nodes, node loss, a slow and lossy link).
#
#   bash launch/test.sh            (CI=true bash launch/test.sh, as .ci/run runs it)
#
# No test passes by skipping: with CI=true a test that lacks a package fails (setup installs them
# all) and only one that lacks a capability of the machine skips (Tests/CQFTests/
# MissingPrerequisite.swift, launch/ci/skip.sh). The last lines say how many skipped, and why.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v swift >/dev/null || { echo "test: no Swift toolchain on PATH; install Swift 6 from swift.org" >&2; exit 1; }
bash launch/setup.sh --slurm
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

swift build -c release
# -enable-testing keeps @testable imports working in release mode (debug builds of numeric
# code run 10-100x slower); XCTest alone, so the summary counts the tests that ran.
xctest_log=$(mktemp /tmp/cqf-xctest.XXXXXX)
trap 'rm -f "$xctest_log"' EXIT
swift test -c release -Xswiftc -enable-testing --disable-swift-testing 2>&1 | tee "$xctest_log"
# The reason of each skipped XCTest ("<file>:<line>: <Class.test> : Test skipped - <reason>").
mapfile -t skips < <(sed -n "s/^.*: \([A-Za-z0-9_]*\.[A-Za-z0-9_]*\) : Test skipped - \(.*\)$/XCTest \1: \2/p" "$xctest_log")

bash launch/ci/mpi-fault-tests.sh .build/release/Distributed
bash launch/ci/card-command-test.sh
bash launch/ci/tensorboard-test.sh .build/release/Distributed
# Every file parser under libFuzzer and AddressSanitizer, 20 s each from its seeds (the hour-long
# campaigns are in docs/data.md).
bash launch/ci/fuzz.sh 20
# Runs a test that exits 77 when it cannot run here, after a line "<test>: SKIPPED: <why>".
skippable() {
    local name=$1 log status
    shift
    log=$(mktemp /tmp/cqf-test.XXXXXX)
    set +e
    "$@" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    set -e
    if (( status == 77 )); then skips+=("$(grep -m1 ': SKIPPED: ' "$log")")
    elif (( status != 0 )); then echo "test: the $name test failed" >&2; exit "$status"; fi
    rm -f "$log"
}
skippable Slurm bash launch/ci/slurm-test.sh bash launch/ci/slurm-requeue-test.sh .build/release/Distributed
skippable Slurm-srun bash launch/ci/slurm-test.sh bash launch/ci/slurm-srun-test.sh .build/release/Distributed
skippable simulated-cluster bash launch/ci/netns-cluster-test.sh .build/release/Distributed
echo "test: all tests passed; ${#skips[@]} skipped"
for skip in "${skips[@]}"; do echo "test: skipped: $skip"; done

#!/bin/bash
# The project card's command, `mpirun -n 16 swift run Distributed`, as a user types it, here with
# 4 ranks oversubscribed on this machine's cores and a few steps: with no subcommand the ranks
# train (and say so once), `swift run` builds the debug configuration once while the other ranks
# wait for it, and the 4 ranks train one model together: one metrics.jsonl with each step once,
# the global batch split four ways.
#
#   bash launch/ci/card-command-test.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

work=$(mktemp -d /tmp/card-command-test.XXXXXX)
trap 'status=$?; if (( status == 0 )); then rm -rf "$work"; else echo "card-command-test: logs kept in $work" >&2; fi' EXIT
fail() { echo "card-command-test: FAILED: $*" >&2; exit 1; }

started=$(date +%s)
mpirun -n 4 --oversubscribe swift run Distributed --steps 4 --out "$work/run" log_every=1 \
    >"$work/stdout" 2>"$work/stderr" || fail "mpirun ended with status $? (see $work/stderr)"
echo "card-command-test: 4 ranks trained 4 steps in $(( $(date +%s) - started )) s, the debug build included"

[[ $(grep -c "^Distributed: no subcommand, so \`train\`" "$work/stderr") == 1 ]] \
    || fail "expected rank 0 alone to say that no subcommand means train"
grep -q "batch 64 over 4 rank(s)" "$work/stderr" || fail "the global batch of 64 was not split over 4 ranks"
[[ $(find "$work/run" -name metrics.jsonl | wc -l) == 1 ]] || fail "expected one metrics.jsonl"
steps=$(sed -n 's/.*"step": *\([0-9]*\).*/\1/p' "$work/run/metrics.jsonl" | tr '\n' ' ')
[[ $steps == "1 2 3 4 " ]] || fail "expected steps 1 2 3 4 logged once each, got: $steps"
[[ -f $work/run/checkpoints/step-4.safetensors ]] || fail "no checkpoint of step 4"
echo "card-command-test: passed"

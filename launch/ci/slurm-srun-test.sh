#!/bin/bash
# The srun test: `srun --mpi=pmix` starts the ranks itself, with no mpirun, as some clusters
# require. Two tasks must find each other through PMIx and train as one job of 2 ranks; and a
# multi-task srun without PMIx must be refused with one line, not run as two jobs of one that
# write the same files.
#
#   launch/ci/slurm-test.sh launch/ci/slurm-srun-test.sh [BUILT Distributed]
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
executable=$(realpath "${1:-$repo/.build/release/Distributed}")
[[ -n ${SLURM_CONF:-} ]] || { echo "error: run this through launch/ci/slurm-test.sh, which starts Slurm" >&2; exit 2; }
[[ -x $executable ]] || { echo "error: $executable is missing: swift build -c release first" >&2; exit 2; }

work=$(mktemp -d /tmp/slurm-srun.XXXXXX)
fail() { echo "slurm-srun-test: FAILED: $*" >&2; cat "$work"/*.log >&2 2>/dev/null; echo "0 passed, 1 failed"; exit 1; }
train=(train --steps 4 --batch 8 --threads 1 log_every=1)

status=0
srun --mpi=pmix --ntasks=2 --cpus-per-task=1 --time=5 "$executable" "${train[@]}" --out "$work/pmix" \
    >"$work/pmix.log" 2>&1 || status=$?
(( status == 0 )) || fail "srun --mpi=pmix ended with status $status"
grep -q "over 2 rank(s)" "$work/pmix.log" || fail "the two tasks did not train as one job of 2 ranks"
[[ $(grep -c '"step": 4,' "$work/pmix/metrics.jsonl") == 1 ]] || fail "metrics.jsonl does not log step 4 exactly once"
echo "slurm-srun-test: srun --mpi=pmix trained 4 steps on 2 ranks"

status=0
srun --mpi=none --ntasks=2 --cpus-per-task=1 --time=5 "$executable" "${train[@]}" --out "$work/none" \
    >"$work/none.log" 2>&1 || status=$?
(( status == 2 )) || fail "srun --mpi=none ended with status $status, not 2"
grep -q "without PMIx" "$work/none.log" || fail "srun --mpi=none was not refused for lacking PMIx"
[[ ! -e $work/none/metrics.jsonl ]] || fail "srun --mpi=none trained anyway"
echo "slurm-srun-test: srun --mpi=none refused: $(grep -m1 'without PMIx' "$work/none.log")"
rm -rf "$work"
echo "1 passed, 0 failed"

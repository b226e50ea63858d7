#!/bin/bash
# The preemption test: launch/slurm/train.sbatch on a real Slurm (run it through
# launch/ci/slurm-test.sh, which brings one up) gets USR1 mid-training, as from
# --signal=B:USR1@90, checkpoints, requeues itself, resumes, and ends at the planned step with
# metrics.jsonl holding every step exactly once.
#
#   launch/ci/slurm-test.sh launch/ci/slurm-requeue-test.sh [BUILT Distributed]
#
# TRAIN_ARGS overrides the training arguments (default: 2 ranks, a short run logging every step).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
executable=$(realpath "${1:-$repo/.build/release/Distributed}")
steps=40
train_args=${TRAIN_ARGS:-"--steps $steps --batch 8 log_every=1"}
[[ -n ${SLURM_CONF:-} ]] || { echo "error: run this through launch/ci/slurm-test.sh, which starts Slurm" >&2; exit 2; }
[[ -x $executable ]] || { echo "error: $executable is missing: swift build -c release first" >&2; exit 2; }

work=$(mktemp -d /tmp/slurm-requeue.XXXXXX)
run=$work/run
fail() { echo "slurm-requeue-test: FAILED: $*" >&2; echo "--- job log" >&2; cat "$work/job.log" >&2 2>/dev/null; echo "0 passed, 1 failed"; exit 1; }
job_field() { scontrol show job "$job" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }
logged_steps() { [[ -f $run/metrics.jsonl ]] && sed -n 's/.*"step": *\([0-9]*\).*/\1/p' "$run/metrics.jsonl" || true; }

# shellcheck disable=SC2086 # train_args is a list of words
job=$(cd "$repo" && sbatch --parsable --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --time=10 \
    --output="$work/job.log" --export="ALL,CQF_OUT=$run,CQF_DISTRIBUTED=$executable" \
    launch/slurm/train.sbatch $train_args)
echo "slurm-requeue-test: job $job, run folder $run"

# Signal the batch script once a few steps are logged, as Slurm's --signal=B:USR1 would.
for _ in $(seq 300); do
    (( $(logged_steps | wc -l) >= 5 )) && break
    [[ $(job_field JobState) =~ ^(FAILED|COMPLETED|CANCELLED|TIMEOUT)$ ]] && fail "the job ended before the signal: $(job_field JobState)"
    sleep 1
done
(( $(logged_steps | wc -l) >= 5 )) || fail "fewer than 5 steps logged in 300 s"
scancel --signal=USR1 --batch "$job"
echo "slurm-requeue-test: sent USR1 at step $(logged_steps | tail -1)"

for _ in $(seq 600); do
    state=$(job_field JobState)
    [[ $state =~ ^(FAILED|COMPLETED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY)$ ]] && break
    sleep 1
done
restarts=$(job_field Restarts)
echo "slurm-requeue-test: job ended $state, exit $(job_field ExitCode), restarts $restarts"
[[ $state == COMPLETED ]] || fail "the job ended $state, not COMPLETED"
(( restarts >= 1 )) || fail "the job was never requeued"

mapfile -t logged < <(logged_steps)
(( ${#logged[@]} > 0 )) || fail "metrics.jsonl has no steps"
expected=$(seq "${logged[0]}" "$(( ${logged[0]} + ${#logged[@]} - 1 ))" | tr '\n' ' ')
[[ "${logged[*]} " == "$expected" ]] || fail "steps have a gap or a repeat: ${logged[*]}"
[[ ${logged[-1]} == "$steps" ]] || fail "the last logged step is ${logged[-1]}, not $steps"
grep -q "USR1 received" "$work/job.log" || fail "the batch script never saw USR1"
echo "slurm-requeue-test: steps ${logged[0]}..${logged[-1]} each logged once across $restarts requeue(s)"
rm -rf "$work"
echo "1 passed, 0 failed"

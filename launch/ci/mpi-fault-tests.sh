#!/bin/bash
# Fault tests of `Distributed train` under mpirun on this machine (2 ranks, oversubscribed):
#   kill-rank: one rank killed with SIGKILL mid-training ends the job within 30 s, non-zero,
#              with a message naming the lost rank (mpirun notices its child's death);
#   stop-signal: SIGUSR1 to mpirun (forwarded to the ranks) makes every rank stop after the
#              same step with status 75 and a checkpoint; --resume then carries on from the
#              next step to the end, so metrics.jsonl holds each step once;
#   stall:     rank 1 of 3 frozen with SIGSTOP mid-training leaves ranks 0 and 2 waiting in a
#              collective; their stall watchdogs end the job within stall_timeout (5 s) plus a
#              few seconds, with status 70 and a message from rank 0 naming the collective and
#              rank 1, which did not answer rank 0's roll call (rank 2's successor, rank 0,
#              answers that it waits too);
#   diverged:  rank 1 started with another learning rate (mpirun's MPMD form, so the config
#              field `lr` differs on that rank alone), so its parameters leave rank 0's at the
#              first step; the checksum at step 2 (checksum_every=2) ends the job with status 70
#              and a message naming the network and rank 1.
#
#   launch/ci/mpi-fault-tests.sh [BUILT Distributed]
#
# TRAIN_ARGS overrides the training arguments (default: a short run logging every step).
set -uo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
executable=$(realpath "${1:-$repo/.build/release/Distributed}")
train_args=${TRAIN_ARGS:-"--batch 8 log_every=1"}
[[ -x $executable ]] || { echo "error: $executable is missing: swift build -c release first" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d /tmp/mpi-fault-tests.XXXXXX)
passed=0 failed=0

logged_steps() { [[ -f $1/metrics.jsonl ]] && sed -n 's/.*"step": *\([0-9]*\).*/\1/p' "$1/metrics.jsonl" || true; }
# Waits until $1/metrics.jsonl has $2 steps while process $3 lives; false if it died or 300 s passed.
wait_for_steps() {
    for _ in $(seq 600); do
        (( $(logged_steps "$1" | wc -l) >= $2 )) && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.5
    done
    return 1
}
# The rank process that mpirun $1 started as world rank $2.
rank_pid() {
    for pid in $(pgrep -P "$1"); do
        tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && { echo "$pid"; return; }
    done
}
result() {
    if [[ $2 == ok ]]; then echo "PASS: $1"; passed=$((passed + 1))
    else echo "FAIL: $1: $2"; failed=$((failed + 1)); fi
}

kill_rank() {
    local out=$work/kill log=$work/kill.log
    # shellcheck disable=SC2086
    mpirun --oversubscribe -n 2 "$executable" train --out "$out" --steps 100000 $train_args >"$log" 2>&1 &
    local mpirun_pid=$!
    wait_for_steps "$out" 3 "$mpirun_pid" || { kill -9 "$mpirun_pid" 2>/dev/null; result kill-rank "training did not log 3 steps: $(tail -3 "$log")"; return; }
    local victim started status=0
    victim=$(rank_pid "$mpirun_pid" 1)
    [[ -n $victim ]] || { kill -9 "$mpirun_pid"; result kill-rank "rank 1's process not found"; return; }
    started=$SECONDS
    kill -9 "$victim"
    # 30 s to end the job, then the test ends it itself, so that a hang cannot hold CI.
    for _ in $(seq 60); do kill -0 "$mpirun_pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$mpirun_pid" 2>/dev/null && { pkill -9 -P "$mpirun_pid"; kill -9 "$mpirun_pid"; result kill-rank "still running 30 s after rank 1 was killed"; return; }
    wait "$mpirun_pid" || status=$?
    local seconds=$((SECONDS - started))
    if (( status == 0 )); then result kill-rank "mpirun exited 0"
    elif ! grep -Eq "rank 1\b" "$log"; then result kill-rank "no message names rank 1: $(tail -5 "$log" | tr '\n' ' ')"
    else echo "kill-rank: ended in ${seconds} s with status $status: $(grep -E "rank 1\b" "$log" | head -1)"; result kill-rank ok
    fi
}

stop_signal() {
    local out=$work/stop log=$work/stop.log status=0
    # shellcheck disable=SC2086
    mpirun --oversubscribe -n 2 "$executable" train --out "$out" --steps 100000 $train_args >"$log" 2>&1 &
    local mpirun_pid=$!
    wait_for_steps "$out" 3 "$mpirun_pid" || { kill -9 "$mpirun_pid" 2>/dev/null; result stop-signal "training did not log 3 steps: $(tail -3 "$log")"; return; }
    kill -USR1 "$mpirun_pid"
    for _ in $(seq 240); do kill -0 "$mpirun_pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$mpirun_pid" 2>/dev/null && { kill -9 "$mpirun_pid"; result stop-signal "still running 120 s after SIGUSR1"; return; }
    wait "$mpirun_pid" || status=$?
    (( status == 75 )) || { result stop-signal "status $status after SIGUSR1, expected 75: $(tail -5 "$log" | tr '\n' ' ')"; return; }
    [[ -f $out/checkpoints/latest.safetensors ]] || { result stop-signal "no checkpoints/latest.safetensors after stopping"; return; }
    local stopped
    stopped=$(logged_steps "$out" | tail -1)
    status=0
    # shellcheck disable=SC2086
    mpirun --oversubscribe -n 2 "$executable" train --out "$out" --steps $((stopped + 5)) --resume $train_args >>"$log" 2>&1 || status=$?
    (( status == 0 )) || { result stop-signal "the resumed run exited $status: $(tail -5 "$log" | tr '\n' ' ')"; return; }
    local steps expected
    steps=$(logged_steps "$out" | tr '\n' ' ')
    expected=$(seq "$(logged_steps "$out" | head -1)" $((stopped + 5)) | tr '\n' ' ')
    [[ $steps == "$expected" ]] || { result stop-signal "steps have a gap or a repeat after resuming: $steps"; return; }
    echo "stop-signal: stopped after step $stopped with status 75, resumed to step $((stopped + 5))"
    result stop-signal ok
}

stall() {
    local out=$work/stall log=$work/stall.log timeout=5
    mpirun --oversubscribe -n 3 "$executable" train --out "$out" --steps 100000 stall_timeout=$timeout --batch 6 log_every=1 >"$log" 2>&1 &
    local mpirun_pid=$!
    wait_for_steps "$out" 3 "$mpirun_pid" || { kill -9 "$mpirun_pid" 2>/dev/null; result stall "training did not log 3 steps: $(tail -3 "$log")"; return; }
    local frozen started status=0
    frozen=$(rank_pid "$mpirun_pid" 1)
    [[ -n $frozen ]] || { kill -9 "$mpirun_pid"; result stall "rank 1's process not found"; return; }
    started=$SECONDS
    kill -STOP "$frozen"
    # Rank 0 may finish its step first (under a second here), then waits; 30 s before the test
    # ends the job itself.
    for _ in $(seq 60); do kill -0 "$mpirun_pid" 2>/dev/null || break; sleep 0.5; done
    local seconds=$((SECONDS - started))
    if kill -0 "$mpirun_pid" 2>/dev/null; then
        kill -CONT "$frozen" 2>/dev/null; pkill -9 -P "$mpirun_pid"; kill -9 "$mpirun_pid"
        result stall "still running 30 s after rank 1 was stopped (stall_timeout $timeout s)"; return
    fi
    wait "$mpirun_pid" || status=$?
    kill -0 "$frozen" 2>/dev/null && { kill -CONT "$frozen"; kill -9 "$frozen"; }
    local message
    message=$(grep -m1 "stall_timeout" "$log")
    if (( status != 70 )); then result stall "status $status, expected 70: $(tail -5 "$log" | tr '\n' ' ')"
    elif (( seconds > timeout + 10 )); then result stall "ended ${seconds} s after the stop, more than stall_timeout + 10 s"
    elif ! [[ $message =~ rank\ 0:\ MPI_[A-Za-z]+\ .*has\ been\ in\ progress.*rank\ 1\ did\ not\ answer ]]; then
        result stall "no message from rank 0 names the collective and rank 1: $(tail -5 "$log" | tr '\n' ' ')"
    else echo "stall: ended ${seconds} s after rank 1 stopped, status $status: $message"; result stall ok
    fi
}

diverged() {
    local out=$work/diverged log=$work/diverged.log status=0
    local common=(train --out "$out" --steps 20 checksum_every=2)
    # shellcheck disable=SC2086
    timeout 300 mpirun --oversubscribe -n 1 "$executable" "${common[@]}" $train_args \
        : -n 1 "$executable" "${common[@]}" $train_args lr=0.003 >"$log" 2>&1 || status=$?
    local message
    message=$(grep -m1 "differ across ranks" "$log")
    if (( status != 70 )); then result diverged "status $status, expected 70: $(tail -5 "$log" | tr '\n' ' ')"
    elif ! [[ $message =~ the\ parameters\ of\ [a-z]+\ differ\ across\ ranks\ at\ step\ 2:\ rank\(s\)\ 1\ disagree ]]; then
        result diverged "no message names the network and rank 1 at step 2: $(tail -5 "$log" | tr '\n' ' ')"
    else echo "diverged: status $status: $message"; result diverged ok
    fi
}

kill_rank
stop_signal
stall
diverged
if (( failed == 0 )); then rm -rf "$work"; else echo "logs kept in $work"; fi
echo "$passed passed, $failed failed"
(( failed == 0 ))

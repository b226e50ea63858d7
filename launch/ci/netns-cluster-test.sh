#!/bin/bash
# A simulated three-node cluster on one machine: three network namespaces (cqfnet-node1..3, each
# its own hostname through `unshare --uts`) joined by veth pairs to a bridge that sits in a fourth
# namespace (cqfnet-switch), on the private subnet 10.213.77.0/24; `Distributed train` runs across
# them with mpirun over TCP, Open MPI starting its remote daemons through
# launch/ci/netns-rsh-agent.sh. Three tests:
#   parameters: three nodes train the same model as one process with the same global batch
#               (final parameters within 1e-4 relative);
#   lossy-link: with 5 ms of delay and 1% packet loss on node 2's incoming side (an NFQUEUE rule
#               and launch/ci/link-faults.c; this kernel has no netem), training finishes with the
#               same parameters as on clean links, bit for bit;
#   node-loss:  node 3's link cut mid-training (its veth deleted) ends the job within 60 s, non-zero,
#               with a message naming the node or rank 2; a restart with --resume on nodes 1 and 2
#               continues from the checkpointed step, each step logged once from there.
#
#   launch/ci/netns-cluster-test.sh [BUILT Distributed]
#
# Run as root (network namespaces need CAP_NET_ADMIN and CAP_SYS_ADMIN); exits 77, saying why,
# when this machine cannot host the cluster (no root, no namespaces, no NFQUEUE in the kernel),
# and, outside CI only, when a package is missing (skip.sh). Everything it makes is removed on
# exit: the namespaces (with the veths, the bridge and the iptables rules inside them) and the
# processes in them. It changes nothing on the host's own network. Needs ip, unshare, mpirun,
# python3, iptables, gcc and libnetfilter-queue-dev (`launch/setup.sh --slurm` installs them).
set -uo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
executable=$(realpath "${1:-$repo/.build/release/Distributed}")
agent=$repo/launch/ci/netns-rsh-agent.sh
[[ -x $executable ]] || { echo "error: $executable is missing: swift build -c release first" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

readonly subnet=10.213.77 prefix=cqfnet switch=cqfnet-switch
# Link faults of the lossy-link test; the keepalive settings are those of launch/slurm/train.sbatch.
delay_ms=${LINK_DELAY_MS:-5} loss=${LINK_LOSS:-0.01}
keepalive=(--mca oob_tcp_keepalive_time 5 --mca oob_tcp_keepalive_intvl 2 --mca oob_tcp_keepalive_probes 3)
# A small model as in Tests/DistributedTests/MultiRankTests.swift, a global batch of 6 (2 images on
# each of three ranks), and Adamax's eps raised to 1e-2 so that one process and three ranks can be
# compared at 1e-4 (the tests explain why). Three steps: later, in models this small, a rounding
# difference between one sum over 6 images and three sums over 2 can flip a discriminator
# activation (measured with seed 0: 1.7e-6 at step 3, then 1.5e-4 at step 4).
model=(widths=8,8,16,16 z=4 first=8 nvp.filters=8 nvp.blocks=1 --threads 1 log_every=1 --batch 6 eps=1e-2)

# shellcheck source=launch/ci/skip.sh
source "$(dirname "$0")/skip.sh"
skip_name=netns-cluster-test
[[ $(id -u) == 0 ]] || skip_lacking "root, which network namespaces need (CAP_NET_ADMIN and CAP_SYS_ADMIN)"
missing=()
for command in ip unshare mpirun python3 iptables gcc; do command -v "$command" >/dev/null || missing+=("$command"); done
[[ -f /usr/include/libnetfilter_queue/libnetfilter_queue.h ]] || missing+=(libnetfilter-queue-dev)
(( ${#missing[@]} == 0 )) || skip_unless_ci "missing ${missing[*]}: sudo launch/setup.sh --slurm installs them"
# One run at a time: another would share the namespace names, so wait for it. (The processes
# started on the nodes do not inherit the lock, so what a killed run leaves running cannot hold it.)
exec 9>/tmp/cqfnet-cluster-test.lock
flock -w 900 9 || skip_unless_ci "another netns-cluster-test.sh held /tmp/cqfnet-cluster-test.lock for 15 minutes"

work=$(mktemp -d /tmp/netns-cluster-test.XXXXXX)
passed=0 failed=0
result() {
    if [[ $2 == ok ]]; then echo "PASS: $1"; passed=$((passed + 1))
    else echo "FAIL: $1: $2"; failed=$((failed + 1)); fi
}

# MARK: The cluster

namespaces() { echo $prefix-node1 $prefix-node2 $prefix-node3 $switch; }
# SIGKILL to every process in the namespace $1: the ones this test started there.
kill_namespace() {
    local pids
    pids=$(ip netns pids "$1" 2>/dev/null) || return 0
    # shellcheck disable=SC2086
    [[ -n $pids ]] && kill -9 $pids 2>/dev/null
    for _ in $(seq 50); do [[ -z $(ip netns pids "$1" 2>/dev/null) ]] && return 0; sleep 0.1; done
}
teardown() {
    local ns
    [[ -n ${faults_pid:-} ]] && kill -9 "$faults_pid" 2>/dev/null
    [[ -n ${mpirun_pid:-} ]] && kill -9 "$mpirun_pid" 2>/dev/null
    for ns in $(namespaces); do
        ip netns list | grep -qw "^$ns" || continue
        kill_namespace "$ns"
        ip netns del "$ns" 2>/dev/null
    done
}
cleanup() {
    teardown
    if (( failed == 0 )); then rm -rf "$work"; else echo "logs kept in $work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Three nodes with one port each on a bridge in the switch namespace. Leftovers of a crashed run of
# this test (same names) go first.
build_cluster() {
    teardown
    ip netns add $switch || return 1
    ip -n $switch link set lo up &&
        ip -n $switch link add $prefix-br type bridge &&
        ip -n $switch link set $prefix-br up || return 1
    local n ns
    for n in 1 2 3; do
        ns=$prefix-node$n
        ip netns add "$ns" &&
            ip -n $switch link add $prefix-port$n type veth peer name eth0 netns "$ns" &&
            ip -n $switch link set $prefix-port$n master $prefix-br up &&
            ip -n "$ns" link set lo up &&
            ip -n "$ns" addr add $subnet.$n/24 dev eth0 &&
            ip -n "$ns" link set eth0 up || return 1
    done
}
if ! build_cluster 2>"$work/setup.err"; then
    skip_lacking "network namespaces (CAP_NET_ADMIN and CAP_SYS_ADMIN; building them failed): $(head -3 "$work/setup.err" | tr '\n' ' ')"
fi
if ! ip netns exec $prefix-node2 iptables -A INPUT -i eth0 -j NFQUEUE --queue-num 7 --queue-bypass 2>"$work/setup.err"; then
    skip_lacking "nfnetlink_queue in its kernel (iptables cannot add an NFQUEUE rule): $(head -2 "$work/setup.err" | tr '\n' ' ')"
fi
ip netns exec $prefix-node2 iptables -F INPUT
echo "cluster: $prefix-node1..3 at $subnet.1-3 on a bridge in $switch; Open MPI over TCP, daemons through $(basename "$agent")"

# Runs a command in node $1's namespace with the node's own hostname, in place of the calling
# shell: call it in the background (`on_node 1 mpirun ... &`), and $! is the command's own PID.
on_node() {
    local node=$prefix-node$1
    shift
    exec ip netns exec "$node" unshare --uts sh -c 'hostname "$1" && shift && exec "$@"' on_node "$node" "$@" 9>&-
}
# Starts `Distributed train ARGS` in the background under mpirun, which runs on node 1, with one
# rank on each node of the comma-separated list $2 (rank 0 on the first); the log goes to $1.
# Sets mpirun_pid.
start_training() {
    local log=$1 nodes=${2//,/ } hostfile=$work/hosts-${2//,/} n
    shift 2
    for n in $nodes; do echo "$subnet.$n slots=1"; done >"$hostfile"
    # pml ob1: the data goes through the tcp btl (UCX, when present, would pick its own transports).
    on_node 1 mpirun --oversubscribe -n "$(wc -l <"$hostfile")" --hostfile "$hostfile" --map-by node --bind-to none \
        --mca plm_rsh_agent "$agent" --mca plm_rsh_no_tree_spawn 1 \
        --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include $subnet.0/24 --mca oob_tcp_if_include $subnet.0/24 \
        "${keepalive[@]}" "$executable" train "$@" >"$log" 2>&1 &
    mpirun_pid=$!
}
# Waits up to $1 s for mpirun to exit and sets status to its exit status; on time out, kills it and
# the processes on the nodes, and sets status to 124.
wait_training() {
    local deadline=$((SECONDS + $1)) ns
    while kill -0 "$mpirun_pid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.2; done
    if kill -0 "$mpirun_pid" 2>/dev/null; then
        kill -9 "$mpirun_pid"
        for ns in $(namespaces); do kill_namespace "$ns"; done
        wait "$mpirun_pid" 2>/dev/null
        status=124
    else
        status=0
        wait "$mpirun_pid" || status=$?
    fi
    mpirun_pid=
}

# MARK: Checkpoints and metrics

# Compares the tensors of two safetensors files (not the optimizer's state) elementwise, as
# |a - b| <= tolerance x max|a| per tensor, and prints the largest such relative difference.
# Python's standard library only: 8-byte little-endian header length, JSON header, raw float32.
compare_checkpoints() {
    python3 - "$1" "$2" "$3" <<'EOF'
import array, json, struct, sys

def load(path):
    with open(path, "rb") as f:
        data = f.read()
    length = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + length])
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            sys.exit(f"{path}: {name} is {info['dtype']}, expected F32")
        begin, end = info["data_offsets"]
        values = array.array("f")
        values.frombytes(data[8 + length + begin:8 + length + end])
        if sys.byteorder != "little":
            values.byteswap()
        tensors[name] = values
    return metadata.get("step"), tensors

(step_a, a), (step_b, b) = load(sys.argv[1]), load(sys.argv[2])
tolerance = float(sys.argv[3])
if step_a != step_b:
    sys.exit(f"the checkpoints are of steps {step_a} and {step_b}")
if set(a) != set(b):
    sys.exit(f"different tensors: {sorted(set(a) ^ set(b))[:5]}")
worst, worst_name, compared = 0.0, "", 0
for name in sorted(a):
    if name.startswith("optimizer."):
        continue
    x, y = a[name], b[name]
    if len(x) != len(y):
        sys.exit(f"{name}: {len(x)} values against {len(y)}")
    scale = max((abs(v) for v in x), default=0.0)
    difference = max((abs(u - v) if u == u and v == v else float("inf") for u, v in zip(x, y)), default=0.0)
    relative = difference / scale if scale > 0 else (0.0 if difference == 0 else float("inf"))
    compared += 1
    if relative >= worst:
        worst, worst_name = relative, name
print(f"{compared} tensors at step {step_a}, max relative difference {worst:.3g} ({worst_name})")
sys.exit(0 if worst <= tolerance else 1)
EOF
}
checkpoint_step() {
    python3 -c 'import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]; print(json.loads(f.read(n))["__metadata__"]["step"])' "$1"
}
# Seconds since $1 (an $EPOCHREALTIME), to a tenth.
since() { awk -v start="$1" -v now="$EPOCHREALTIME" 'BEGIN { printf "%.1f", now - start }'; }
logged_steps() { [[ -f $1/metrics.jsonl ]] && sed -n 's/.*"step": *\([0-9]*\).*/\1/p' "$1/metrics.jsonl" || true; }

# MARK: The tests

parameters() {
    local single=$work/single cluster=$work/cluster started comparison
    if ! timeout -k 10 240 "$executable" train --out "$single" --steps 3 "${model[@]}" >"$work/single.log" 2>&1; then
        result parameters "the single process failed: $(tail -3 "$work/single.log" | tr '\n' ' ')"; return
    fi
    started=$EPOCHREALTIME
    start_training "$work/cluster.log" 1,2,3 --out "$cluster" --steps 3 "${model[@]}"
    wait_training 240
    (( status == 0 )) || { result parameters "the three-node run exited $status: $(tail -5 "$work/cluster.log" | tr '\n' ' ')"; return; }
    grep -q "batch 6 over 3 rank" "$work/cluster.log" || { result parameters "the run was not on 3 ranks: $(head -1 "$work/cluster.log")"; return; }
    clean_seconds=$(since "$started")
    if ! comparison=$(compare_checkpoints "$single/checkpoints/latest.safetensors" "$cluster/checkpoints/latest.safetensors" 1e-4 2>&1); then
        result parameters "three nodes and one process differ: $comparison"; return
    fi
    echo "parameters: three nodes ($clean_seconds s) against one process: $comparison"
    result parameters ok
}

lossy_link() {
    local lossy=$work/lossy started comparison counts
    [[ -f $work/cluster/checkpoints/latest.safetensors ]] || { result lossy-link "no clean three-node run to compare with"; return; }
    gcc -O2 -Wall -o "$work/link-faults" "$repo/launch/ci/link-faults.c" -lnetfilter_queue -lnfnetlink 2>"$work/gcc.log" ||
        { result lossy-link "link-faults.c does not compile: $(head -3 "$work/gcc.log" | tr '\n' ' ')"; return; }
    # Everything node 2 receives goes through the queue; --queue-bypass lets packets through while
    # no program listens.
    ip netns exec $prefix-node2 iptables -A INPUT -i eth0 -j NFQUEUE --queue-num 7 --queue-bypass
    ip netns exec $prefix-node2 "$work/link-faults" 7 "$delay_ms" "$loss" >"$work/link-faults.log" 2>&1 9>&- &
    faults_pid=$!
    sleep 0.5
    started=$EPOCHREALTIME
    start_training "$work/lossy.log" 1,2,3 --out "$lossy" --steps 3 "${model[@]}"
    wait_training 300
    local seconds
    seconds=$(since "$started")
    kill -TERM "$faults_pid" 2>/dev/null
    wait "$faults_pid" 2>/dev/null
    faults_pid=
    ip netns exec $prefix-node2 iptables -F INPUT
    counts=$(tail -1 "$work/link-faults.log")
    (( status == 0 )) || { result lossy-link "the run exited $status: $(tail -5 "$work/lossy.log" | tr '\n' ' ')"; return; }
    [[ $counts =~ ([0-9]+)\ packets,\ ([0-9]+)\ dropped ]] || { result lossy-link "link-faults said: $counts"; return; }
    if [[ $loss != 0 && ${BASH_REMATCH[2]} == 0 ]]; then result lossy-link "no packet was dropped: $counts"; return; fi
    if ! comparison=$(compare_checkpoints "$work/cluster/checkpoints/latest.safetensors" "$lossy/checkpoints/latest.safetensors" 0 2>&1); then
        result lossy-link "the lossy run differs from the clean one: $comparison"; return
    fi
    echo "lossy-link: $delay_ms ms delay, $loss loss on node 2's incoming side: ${seconds} s (clean: ${clean_seconds:-?} s); ${counts#link-faults: }; against the clean run: $comparison"
    result lossy-link ok
}

node_loss() {
    local out=$work/loss log=$work/loss.log cut seconds message left checkpointed logged
    start_training "$log" 1,2,3 --out "$out" --steps 100000 "${model[@]}" checkpoint_every=2 stall_timeout=20
    for _ in $(seq 600); do
        (( $(logged_steps "$out" | wc -l) >= 5 )) && [[ -f $out/checkpoints/latest.safetensors ]] && break
        kill -0 "$mpirun_pid" 2>/dev/null || break
        sleep 0.2
    done
    if ! (( $(logged_steps "$out" | wc -l) >= 5 )) || ! kill -0 "$mpirun_pid" 2>/dev/null; then
        wait_training 0
        result node-loss "training did not log 5 steps: $(tail -3 "$log" | tr '\n' ' ')"; return
    fi
    # Node 3 (rank 2) drops off the network: its veth goes, and with it its side, eth0.
    cut=$EPOCHREALTIME
    ip -n $switch link del $prefix-port3
    wait_training 60
    seconds=$(since "$cut")
    left=$(ip netns pids $prefix-node3 | wc -l)
    kill_namespace $prefix-node3
    if (( left == 0 )); then left="nothing was left running on node 3"; else left="$left process(es) left on node 3, killed"; fi
    (( status != 124 )) || { result node-loss "still running 60 s after node 3 was cut off: $(tail -3 "$log" | tr '\n' ' ')"; return; }
    (( status != 0 )) || { result node-loss "mpirun exited 0 after node 3 was cut off"; return; }
    message=$(grep -E "${subnet//./\\.}\.3\b|$prefix-node3|rank 2\b" "$log" | grep -v "^step " | head -1)
    [[ -n $message ]] || { result node-loss "no message names node 3 or rank 2: $(tail -8 "$log" | tr '\n' ' ')"; return; }
    echo "node-loss: the job ended ${seconds} s after the cut with status $status: $(echo "$message" | sed 's/^ *//') ($subnet.3 is $prefix-node3; $left)"

    # The restart, on the two nodes left.
    checkpointed=$(checkpoint_step "$out/checkpoints/latest.safetensors")
    logged=$(logged_steps "$out" | wc -l)
    start_training "$work/restart.log" 1,2 --out "$out" --resume --steps $((checkpointed + 3)) "${model[@]}" checkpoint_every=2 stall_timeout=20
    wait_training 240
    (( status == 0 )) || { result node-loss "the restart on nodes 1 and 2 exited $status: $(tail -5 "$work/restart.log" | tr '\n' ' ')"; return; }
    local steps expected
    steps=$(logged_steps "$out" | tail -n +$((logged + 1)) | paste -sd ' ')
    expected=$(seq $((checkpointed + 1)) $((checkpointed + 3)) | paste -sd ' ')
    [[ $steps == "$expected" ]] || { result node-loss "the restart logged steps $steps, expected $expected (checkpoint of step $checkpointed)"; return; }
    # The first step after the checkpoint, logged before the cut by three ranks and again by two:
    # the same state and data give the same loss (to rounding), where a fresh start would not.
    local losses
    losses=$(python3 -c 'import json, sys
lines = [json.loads(line) for line in open(sys.argv[1])]
before = [l["loss_c"] for l in lines[:int(sys.argv[2])] if l["step"] == int(sys.argv[3])]
after = lines[int(sys.argv[2])]["loss_c"]
if before and abs(before[0] - after) > 1e-3 * abs(before[0]):
    sys.exit(f"step {sys.argv[3]} has loss_c {after} after the restart, {before[0]} before the cut")
print(f"loss_c {after} after the restart" + (f", {before[0]} before the cut" if before else ""))' "$out/metrics.jsonl" "$logged" $((checkpointed + 1)) 2>&1) ||
        { result node-loss "$losses"; return; }
    echo "node-loss: restarted on nodes 1 and 2 from the checkpoint of step $checkpointed ($logged steps were logged before the cut), logged steps $steps; step $((checkpointed + 1)): $losses"
    result node-loss ok
}

parameters
lossy_link
node_loss
echo "$passed passed, $failed failed"
(( failed == 0 ))

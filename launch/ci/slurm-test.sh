#!/bin/bash
# Brings up a real single-node Slurm cluster on this machine (munged, slurmctld, slurmd, all
# configured in a temporary folder and listening on ports of their own, so an installed Slurm
# is left alone), runs a test command inside it, and tears it down, killing only the daemons it
# started. Needs root and Debian's slurm-wlm and munge (launch/setup.sh --slurm installs them).
#
#   launch/ci/slurm-test.sh COMMAND [ARGS...]
#
# COMMAND runs with SLURM_CONF set, so its sbatch, squeue, scontrol and sacct talk to this
# cluster; its exit status is this script's. When the cluster cannot be brought up the script
# says why and exits with 77, "skipped", never pretending to pass; under CI=true only a machine
# without root skips, and a missing package or a daemon that does not start fails (skip.sh).
set -euo pipefail
# shellcheck source=launch/ci/skip.sh
source "$(dirname "$0")/skip.sh"
skip_name=slurm-test

(( $# >= 1 )) || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
[[ $(id -u) == 0 ]] || skip_lacking "root, which munged and slurmd need (run as root, as CI does)"
for tool in munged slurmctld slurmd sinfo sbatch scontrol setpriv python3; do
    command -v "$tool" >/dev/null || skip_unless_ci "'$tool' is not installed (sudo launch/setup.sh --slurm installs slurm-wlm, munge and python3)"
done
id munge >/dev/null 2>&1 || skip_unless_ci "there is no 'munge' user (the munge package makes it)"

work=$(mktemp -d /tmp/slurm-test.XXXXXX)
chmod 755 "$work"
pids=()
teardown() {
    local status=$?
    # Only the daemons started here, newest first, then the folder (kept when the test failed,
    # for its logs).
    for (( i = ${#pids[@]} - 1; i >= 0; i-- )); do kill "${pids[i]}" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    if (( status == 0 )); then rm -rf "$work"; else echo "slurm-test: logs kept in $work" >&2; fi
    exit "$status"
}
trap teardown EXIT

# munge: a key of our own, socket and state in the work folder, run as user munge as it insists.
mkdir -p "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chown -R munge:munge "$work/munge"
# Every user's tools connect to the socket, so its folder is searchable by all.
chmod 711 "$work/munge"
chmod 400 "$work/munge/munge.key"
setpriv --reuid=munge --regid=munge --init-groups \
    munged -F --socket="$work/munge/munge.socket" --key-file="$work/munge/munge.key" \
    --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" \
    --seed-file="$work/munge/munged.seed" >"$work/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [[ -S $work/munge/munge.socket ]] && break; sleep 0.1; done
[[ -S $work/munge/munge.socket ]] || skip_unless_ci "munged did not start: $(tail -3 "$work/munged.out" "$work/munge/munged.log" 2>/dev/null | tr '\n' ' ')"

# Free ports for the two daemons, so that a Slurm already installed here keeps its own.
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'; }
node=$(hostname -s)
mkdir -p "$work/state" "$work/spool"
cat >"$work/slurm.conf" <<CONF
ClusterName=cqftest
SlurmctldHost=$node
SlurmctldPort=$(port)
SlurmdPort=$(port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire=10: a requeued job may start again 10 s after it ended, not the default 120 s.
AuthInfo=socket=$work/munge/munge.socket,cred_expire=10
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
# No cgroups or systemd in a CI container: processes tracked by parentage, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
# Schedule every 2 s rather than every 60 s, so a requeued job restarts in seconds.
SchedulerParameters=sched_interval=2,bf_interval=2
ReturnToService=2
NodeName=$node CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$work/slurm.conf

slurmctld -D -f "$SLURM_CONF" >"$work/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$work/slurmd.out" 2>&1 &
pids+=($!)
state=""
for _ in $(seq 100); do
    state=$(sinfo -h -N -o %t 2>/dev/null || true)
    [[ $state == idle ]] && break
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || skip_unless_ci "a Slurm daemon exited at start: $(tail -3 "$work"/slurm*.out "$work"/slurm*.log 2>/dev/null | tr '\n' ' ')"
    done
    sleep 0.2
done
[[ $state == idle ]] || skip_unless_ci "the node did not become idle within 20 s (sinfo says '$state'); see $work/slurmctld.log"
echo "slurm-test: single-node Slurm up (node $node, $(nproc) CPUs, config $SLURM_CONF)" >&2

"$@"

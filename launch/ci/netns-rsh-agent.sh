#!/bin/sh
# The rsh agent of the simulated cluster (launch/ci/netns-cluster-test.sh): Open MPI starts its
# remote daemons with `mpirun --mca plm_rsh_agent launch/ci/netns-rsh-agent.sh`, calling it as it
# would call ssh,
#
#   netns-rsh-agent.sh HOST COMMAND...
#
# HOST is the name of a network namespace (which is also the node's hostname) or an IPv4 address
# that one namespace named cqfnet-* holds. The agent runs COMMAND through `sh -c` (as sshd runs it
# through the login shell) inside that namespace, in a UTS namespace of its own whose hostname is
# the namespace's name, with an environment as bare as ssh gives (PATH, HOME, LANG).
set -eu
[ $# -ge 2 ] || { echo "usage: $0 HOST COMMAND..." >&2; exit 2; }
host=$1
shift

namespace=
for candidate in $(ip netns list | cut -d' ' -f1); do
    if [ "$candidate" = "$host" ]; then namespace=$candidate; break; fi
    case $candidate in cqfnet-*) ;; *) continue ;; esac
    if ip -n "$candidate" -o -4 addr show 2>/dev/null | grep -q " inet $host/"; then namespace=$candidate; break; fi
done
[ -n "$namespace" ] || { echo "netns-rsh-agent: no network namespace is host $host" >&2; exit 255; }

exec env -i PATH="${PATH:-/usr/local/bin:/usr/bin:/bin}" HOME="${HOME:-/root}" LANG="${LANG:-C.UTF-8}" \
    ip netns exec "$namespace" unshare --uts \
    sh -c 'hostname "$1" && shift && exec sh -c "$*"' netns-rsh-agent "$namespace" "$@"

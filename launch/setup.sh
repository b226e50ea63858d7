#!/bin/bash
# Installs, with Debian's apt, everything the project needs to build, test and train:
# Open MPI, OpenBLAS, oneDNN, the image codecs and LMDB, pkg-config and the Fashion-MNIST
# package that `Distributed train` uses when given no data. With --slurm it adds everything else
# the tests use (launch/test.sh), so that on a plain Debian 12 no test skips: Slurm and munge for
# the single-node Slurm test (launch/ci/slurm-test.sh); iproute2, iptables, gcc and
# libnetfilter-queue-dev for the simulated cluster (launch/ci/netns-cluster-test.sh); procps for
# the fault tests' pgrep (launch/ci/mpi-fault-tests.sh); python3 and python3-numpy, which the
# XCTests run to write and read npz and safetensors files independently of our code and the
# CI scripts use as a calculator; python3-venv and python3-matplotlib for the TensorBoard and
# plot test (launch/ci/tensorboard-test.sh).
# Run as root; safe to run again.
#
#   sudo launch/setup.sh [--slurm]
#
# The Swift toolchain itself is not a Debian package: install it from swift.org (Swift 6).
set -euo pipefail

packages=(libopenmpi-dev openmpi-bin libopenblas-dev libdnnl-dev liblmdb-dev libwebp-dev libpng-dev
          libjpeg-dev zlib1g-dev pkg-config dataset-fashion-mnist)
case "${1:-}" in
    --slurm) packages+=(slurm-wlm munge iproute2 iptables gcc libnetfilter-queue-dev procps
                        python3 python3-numpy python3-venv python3-matplotlib) ;;
    "") ;;
    *) echo "usage: $0 [--slurm]" >&2; exit 2 ;;
esac

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if (( ${#missing[@]} == 0 )); then
    echo "setup: everything is installed"
    exit 0
fi
if [[ $(id -u) != 0 ]]; then
    echo "setup: missing ${missing[*]}; run as root (sudo $0 $*) to install them" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null; then
    echo "setup: missing ${missing[*]}, and this system has no apt-get: install their equivalents by hand" >&2
    exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q || { echo "setup: apt-get update failed (no network, or a broken sources list)" >&2; exit 1; }
if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    for package in "${missing[@]}"; do
        apt-cache show "$package" >/dev/null 2>&1 || echo "setup: no package '$package' in this system's apt sources (Debian 12 has it)" >&2
    done
    echo "setup: apt-get install failed for some of: ${missing[*]}" >&2
    exit 1
fi
echo "setup: done"

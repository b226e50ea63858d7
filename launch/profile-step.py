#!/usr/bin/env python3
"""Where a training step's time goes (docs/performance.md, issue 16): samples `Distributed bench
--config CONFIG --threads T` with perf (oneDNN's JIT kernels named through its perf map,
ONEDNN_JIT_PROFILE=2) and splits the samples by what the code does: convolutions, reorders,
elementwise loops, reductions, copies, the optimizer, communication, allocation and reference
counting, the kernel, the rest. With several threads it also gives how busy the threads were:
CPU time over threads x wall-clock time (what is missing is threads waiting for work).

    python3 launch/profile-step.py CONFIG THREADS [STEPS]    # e.g. configs/bench-a.json 2

Needs perf (Debian's linux-perf) and a release build. The run's own warm-up steps and its FMA
peak loop are in the samples; the peak loop is left out of the split.
"""
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

# First match wins: (category, pattern over "dso symbol").
CATEGORIES = [
    ("peak loop (excluded)", r"cqf_fma_loop"),
    ("reorders", r"reorder|single_blk|jit_uni_tr|transpose"),
    ("convolutions", r"conv|wino|gemm|brg|jit_avx512|jit_uni|\[JIT\]|libdnnl"),
    ("communication", r"libmpi|libopen-pal|libopen-rte|mca_|libucx|libucp|libucs|MPIShim"),
    ("optimizer", r"Adamax|WeightAverage"),
    ("noise (Philox)", r"Philox|StepNoise"),
    ("reductions", r"sum|Sum|mean|Mean|reduc|Reduc|norm|Norm|dot|squaredLength"),
    ("copies", r"memcpy|memmove|memset|concat|Concat|channels|squeeze|Squeeze|copy|Copy|pad|Pad|reshap|upsample|repeating"),
    ("allocation, reference counting", r"swift_retain|swift_release|swift_alloc|swift_dealloc|swift_bridge|malloc|free|_int_|swift_arrayInit|swift_beginAccess|swift_endAccess|objc|libswiftCore"),
    ("threads (OpenMP, Dispatch)", r"libgomp|libdispatch|pthread|futex"),
    ("elementwise", r"Elementwise|broadcastMap|map|Map|relu|Relu|elu|Elu|tanh|exp|log|sin|cos|sqrt|Gradient|libm\.so|Bias|softplus|sigmoid|Sigmoid|mask|Mask|clamp|Clamp"),
    ("kernel", r"\[kernel|kallsyms"),
]


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    config, threads = sys.argv[1], int(sys.argv[2])
    steps = sys.argv[3] if len(sys.argv) == 4 else "10"
    binary = ".build/release/Distributed"
    if not os.access(binary, os.X_OK):
        sys.exit(f"profile-step: {binary} is missing: swift build -c release first")
    with tempfile.TemporaryDirectory() as scratch:
        data = os.path.join(scratch, "perf.data")
        environment = dict(os.environ, ONEDNN_JIT_PROFILE="2")
        start = time.monotonic()
        record = subprocess.run(
            ["perf", "record", "-F", "499", "-o", data, "--", binary, "bench", "--config", config,
             "--threads", str(threads), "--steps", steps],
            env=environment, capture_output=True, text=True)
        wall = time.monotonic() - start
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy = (usage.ru_utime + usage.ru_stime) / (threads * wall)
        if record.returncode != 0:
            sys.exit(f"profile-step: perf record failed:\n{record.stderr}")
        summary = record.stdout.strip().splitlines()[-1]
        report = subprocess.run(
            ["perf", "report", "-i", data, "--no-children", "--sort", "dso,sym", "--stdio"],
            capture_output=True, text=True, check=True).stdout
    shares = {}
    for line in report.splitlines():
        match = re.match(r"\s*([\d.]+)%\s+(\S.*?)\s+\[[.k]\]\s+(.*)$", line)
        if not match:
            continue
        percent, where = float(match.group(1)), match.group(2) + " " + match.group(3)
        category = next((name for name, pattern in CATEGORIES if re.search(pattern, where)), "other")
        shares[category] = shares.get(category, 0.0) + percent
    counted = sum(shares.values()) - shares.pop("peak loop (excluded)", 0.0)
    print(f"bench: {summary}")
    print(f"profile: {config}, {threads} thread(s), {steps} timed steps, {wall:.1f} s wall clock, "
          f"threads busy {100 * busy:.0f}% of it (CPU time over threads x wall clock)")
    print("| what | share of samples |")
    print("|---|---:|")
    for name, percent in sorted(shares.items(), key=lambda item: -item[1]):
        print(f"| {name} | {100 * percent / counted:.1f}% |")


if __name__ == "__main__":
    main()

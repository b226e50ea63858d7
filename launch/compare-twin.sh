#!/bin/bash
# Our training step against the PyTorch twin (../shared/anchors), back to back on this machine
# with the same number of cores: images/s of each, the ratio, peak resident memory (ours as
# `bench` reports it, all ranks added up; the twin's from GNU time) and the fraction of the FMA
# peak each reaches. The twin needs PyTorch's CPU build in a venv:
#
#   python3 -m venv /tmp/twin && /tmp/twin/bin/pip install "torch==2.13.0+cpu" numpy
#   launch/compare-twin.sh [THREADS] [CONFIGS] [RANKS]   # e.g. launch/compare-twin.sh 2 abcd
#
# The twin runs THREADS threads in one process; we run one process with THREADS threads, or
# with RANKS > 1, RANKS ranks under mpirun with THREADS/RANKS threads each (the batch split over
# them, as in training). TWIN_PYTHON and TWIN_DIR override where the venv's python and the
# twin's folder are.
set -euo pipefail
cd "$(dirname "$0")/.."

threads=${1:-1}
configs=${2:-abcd}
ranks=${3:-1}
python=${TWIN_PYTHON:-/tmp/twin/bin/python}
twin=${TWIN_DIR:-../shared/anchors}
[[ -x $python ]] || { echo "compare-twin: no $python; make the venv as this script's header says" >&2; exit 1; }
[[ -f $twin/bench.py ]] || { echo "compare-twin: no $twin/bench.py; set TWIN_DIR" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "compare-twin: needs GNU time (apt-get install time)" >&2; exit 1; }
(( ranks >= 1 && threads % ranks == 0 )) || { echo "compare-twin: RANKS ($ranks) must divide THREADS ($threads)" >&2; exit 2; }
swift build -c release >/dev/null

ours_command=(.build/release/Distributed bench --threads $(( threads / ranks )) --steps 5)
if (( ranks > 1 )); then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    ours_command=(mpirun -n "$ranks" "${ours_command[@]}")
fi

printf '%-6s %7s %5s %12s %12s %7s %10s %10s %9s %9s %9s\n' \
    config threads ranks ours_img_s twin_img_s ratio ours_mb twin_mb ours_gfs ours_peak twin_peak
for (( i = 0; i < ${#configs}; i++ )); do
    k=${configs:i:1}
    ours=$("${ours_command[@]}" --config "configs/bench-$k.json" | tail -n 1)
    theirs=$(/usr/bin/time -f 'maxrss_kb %M' -o /tmp/compare-twin.rss \
        "$python" "$twin/bench.py" "$threads" --configs "$k" 2>/dev/null | tail -n 1)
    python3 - "$k" "$threads" "$ranks" "$ours" "$theirs" <<'PY'
import json, sys
key, threads, ranks, ours, theirs = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), json.loads(sys.argv[5])
twin_mb = int(open('/tmp/compare-twin.rss').read().split()[-1]) / 1024
ratio = ours['images_per_s'] / theirs['images_per_s']
# Both run the same convolutions per image, so the twin's share of the FMA peak is ours divided
# by the ratio of images/s.
print(f"{key:<6} {threads:>7} {ranks:>5} {ours['images_per_s']:>12.2f} {theirs['images_per_s']:>12.2f} "
      f"{ratio:>7.2f} {ours['peak_rss_mb']:>10.0f} {twin_mb:>10.0f} {ours['gflops']:>9.1f} "
      f"{ours['peak_fraction']:>9.2f} {ours['peak_fraction'] / ratio:>9.2f}")
PY
done

#!/bin/bash
# Our training step against the PyTorch twin (../shared/anchors), back to back on this machine
# with the same thread count: images/s of each, the ratio, and the peak resident memory of each
# process (GNU time's maximum RSS). The twin needs PyTorch's CPU build in a venv:
#
#   python3 -m venv /tmp/twin && /tmp/twin/bin/pip install "torch==2.13.0+cpu" numpy
#   launch/compare-twin.sh [THREADS] [CONFIGS]        # e.g. launch/compare-twin.sh 1 abcd
#
# TWIN_PYTHON and TWIN_DIR override where the venv's python and the twin's folder are.
set -euo pipefail
cd "$(dirname "$0")/.."

threads=${1:-1}
configs=${2:-abcd}
python=${TWIN_PYTHON:-/tmp/twin/bin/python}
twin=${TWIN_DIR:-../shared/anchors}
[[ -x $python ]] || { echo "compare-twin: no $python; make the venv as this script's header says" >&2; exit 1; }
[[ -f $twin/bench.py ]] || { echo "compare-twin: no $twin/bench.py; set TWIN_DIR" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "compare-twin: needs GNU time (apt-get install time)" >&2; exit 1; }
swift build -c release >/dev/null

printf '%-6s %7s %12s %12s %7s %10s %10s %9s %9s %9s\n' config threads ours_img_s twin_img_s ratio ours_mb twin_mb ours_gfs ours_peak twin_peak
for (( i = 0; i < ${#configs}; i++ )); do
    k=${configs:i:1}
    ours=$(/usr/bin/time -f 'maxrss_kb %M' -o /tmp/compare-ours.rss \
        .build/release/Distributed bench --config "configs/bench-$k.json" --threads "$threads" --steps 5 | tail -n 1)
    theirs=$(/usr/bin/time -f 'maxrss_kb %M' -o /tmp/compare-twin.rss \
        "$python" "$twin/bench.py" "$threads" --configs "$k" 2>/dev/null | tail -n 1)
    python3 - "$k" "$threads" "$ours" "$theirs" <<'PY'
import json, sys
key, threads, ours, theirs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
# Both run the same convolutions per image, so the twin's share of the FMA peak is ours scaled
# by the ratio of images/s.
rss = lambda path: int(open(path).read().split()[-1]) / 1024
print(f"{key:<6} {threads:>7} {ours['images_per_s']:>12.2f} {theirs['images_per_s']:>12.2f} "
      f"{ours['images_per_s'] / theirs['images_per_s']:>7.2f} {rss('/tmp/compare-ours.rss'):>10.0f} "
      f"{rss('/tmp/compare-twin.rss'):>10.0f} {ours['gflops']:>9.1f} {ours['peak_fraction']:>9.2f} "
      f"{ours['peak_fraction'] * theirs['images_per_s'] / ours['images_per_s']:>9.2f}")
PY
done

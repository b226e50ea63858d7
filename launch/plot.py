#!/usr/bin/env python3
"""Training curves of one or more runs, overlaid, from their metrics.jsonl: each quantity that any
run logged (BPD, L_C, L_Q, D's loss, FD, IS) against steps (left) and against wall-clock minutes
(right), one colour per run, so that runs of different step costs compare both ways. FD and IS
measured after training from a run's checkpoints (checkpoint-scores.jsonl, launch/ablation.sh)
are drawn with the rest.

    python3 launch/plot.py RUN_DIR [RUN_DIR ...] --out FILE.png [--labels NAME ...]

Needs matplotlib (Debian: apt-get install python3-matplotlib).
"""
import argparse
import json
import math
import os
import sys

try:
    import matplotlib
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot: matplotlib is missing: apt-get install python3-matplotlib (or pip install matplotlib)")

# metrics.jsonl's keys, in the order of the panels, with their axis labels.
QUANTITIES = [
    ("bpd", "bits per dimension"),
    ("loss_c", "L_C (coverage)"),
    ("loss_q", "L_Q (quality)"),
    ("loss_d", "D's loss"),
    ("fd", "FD"),
    ("is", "IS"),
]


def read_metrics(run):
    lines = read_lines(os.path.join(run, "metrics.jsonl"))
    if not lines:
        sys.exit(f"plot: {run}/metrics.jsonl has no logged steps")
    scores = os.path.join(run, "checkpoint-scores.jsonl")
    return lines + (read_lines(scores) if os.path.exists(scores) else [])


def read_lines(path):
    try:
        with open(path) as f:
            text = f.read().splitlines()
    except OSError as error:
        sys.exit(f"plot: cannot read {path}: {error.strerror}")
    lines = []
    for number, line in enumerate(text, 1):
        if line.strip():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError as error:
                sys.exit(f"plot: {path} line {number} is not JSON: {error.msg}")
    return lines


def series(lines, key, x_key):
    points = [(line[x_key], line[key]) for line in lines
              if isinstance(line.get(key), (int, float)) and math.isfinite(line[key])]
    # An objective without a loss logs it as 0 at every step (gan's L_C, vae's L_Q): no curve.
    if all(value == 0 for _, value in points):
        return [], []
    return [p[0] for p in points], [p[1] for p in points]


def main():
    parser = argparse.ArgumentParser(description="Overlay the training curves of runs (metrics.jsonl).")
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("--out", required=True, metavar="FILE.png")
    parser.add_argument("--labels", nargs="+", metavar="NAME", help="one per run (default: the folders' names)")
    args = parser.parse_args()
    labels = args.labels or [os.path.basename(os.path.normpath(run)) for run in args.runs]
    if len(labels) != len(args.runs):
        sys.exit(f"plot: {len(args.runs)} runs but {len(labels)} labels")
    metrics = [read_metrics(run) for run in args.runs]
    present = [(key, name) for key, name in QUANTITIES if any(series(lines, key, "step")[0] for lines in metrics)]
    if not present:
        sys.exit("plot: none of the runs logged " + ", ".join(key for key, _ in QUANTITIES))

    figure, axes = plt.subplots(len(present), 2, figsize=(11, 2.6 * len(present)), squeeze=False)
    for row, (key, name) in enumerate(present):
        for column, (x_key, x_name, scale) in enumerate([("step", "step", 1), ("seconds", "wall clock (minutes)", 60)]):
            axis = axes[row][column]
            for index, lines in enumerate(metrics):
                x, y = series(lines, key, x_key)
                if x:
                    # One colour per run in every panel; quantities measured now and then (FD,
                    # IS) get markers, per-step ones a line.
                    axis.plot([v / scale for v in x], y, color=f"C{index}", linewidth=1,
                              marker="o" if len(x) < 30 else None, markersize=3)
            axis.set_xlabel(x_name)
            axis.set_ylabel(name)
            axis.grid(alpha=0.3)
    handles = [matplotlib.lines.Line2D([], [], color=f"C{index}") for index in range(len(labels))]
    figure.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=9)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.4 / figure.get_figheight()))
    figure.savefig(args.out, dpi=100)
    print(f"plot: {', '.join(name for _, name in present)} of {len(args.runs)} run(s) -> {args.out}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The Table 1 ablation as a markdown table (docs/results.md), from the runs launch/ablation.sh
wrote: each run's summary.txt (steps, `eval`'s and `score`'s JSON lines) and its samples.npz (the
per-pixel spread of the 10,000 samples: the standard deviation of each pixel over them, averaged
over pixels, near 0 when every sample is alike) and its config.json (a run that averaged its
weights, ema_decay > 0, is a row of its own). Runs of the same objective (several seeds) are
shown as mean ± standard deviation.

    python3 launch/ablation-table.py runs/ablation-gan runs/ablation-vae ... > table.md

Needs numpy (Debian: python3-numpy).
"""
import json
import os
import statistics
import sys

import numpy as np

# Which losses and which output distribution each objective uses (MODEL.md section 6).
PARTS = {"gan": ("x", "", ""), "vae": ("", "x", ""), "cq": ("x", "x", ""), "cqf": ("x", "x", "x"), "mle": ("", "x", "x")}


def read_run(run):
    fields = {}
    path = os.path.join(run, "summary.txt")
    try:
        lines = open(path).read().splitlines()
    except OSError as error:
        sys.exit(f"ablation-table: cannot read {path}: {error.strerror}")
    for line in lines:
        key, _, value = line.partition(": ")
        fields[key] = json.loads(value) if key in ("eval", "score") else value
    if "objective" not in fields or "score" not in fields:
        sys.exit(f"ablation-table: {path} has no objective or score line; did launch/ablation.sh finish this run?")
    samples = np.load(os.path.join(run, "samples.npz"))["arr_0"]
    config_path = os.path.join(run, "config.json")
    try:
        decay = json.load(open(config_path)).get("ema_decay", 0)
    except (OSError, ValueError) as error:
        sys.exit(f"ablation-table: cannot read {config_path}: {error}")
    return {
        "objective": fields["objective"],
        "row": fields["objective"] + (f" + ema {decay:g}" if decay else ""),
        "steps": int(fields["steps"]),
        "bpd": fields["eval"]["bpd"] if "eval" in fields else None,
        "fd": fields["score"]["fid"],
        "is": fields["score"]["is"],
        "kid": fields["score"]["kid"],
        "precision": fields["score"]["precision"],
        "recall": fields["score"]["recall"],
        "spread": float(samples.reshape(len(samples), -1).astype(np.float64).std(0).mean()),
    }


def cell(values, digits):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:,.{digits}f}"
    return f"{statistics.mean(values):,.{digits}f} ± {statistics.stdev(values):,.{digits}f}"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    runs = [read_run(run) for run in sys.argv[1:]]
    rows = list(dict.fromkeys(run["row"] for run in runs))
    print("| objective | L_Q | L_C | flow | runs | steps | test BPD | FD | IS | KID | precision | recall | pixel spread |")
    print("|---|:-:|:-:|:-:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for row in rows:
        group = [run for run in runs if run["row"] == row]
        quality, coverage, flow = PARTS.get(group[0]["objective"], ("?", "?", "?"))
        column = lambda key, digits: cell([run[key] for run in group], digits)
        print(f"| {row} | {quality} | {coverage} | {flow} | {len(group)} | {column('steps', 0)} | {column('bpd', 3)} "
              f"| {column('fd', 1)} | {column('is', 2)} | {column('kid', 1)} | {column('precision', 3)} | {column('recall', 3)} "
              f"| {column('spread', 1)} |")


if __name__ == "__main__":
    main()

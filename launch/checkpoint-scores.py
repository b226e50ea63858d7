#!/usr/bin/env python3
"""A run's FD curve from its kept checkpoints (launch/ablation.sh): FD and IS of 2,000 samples
from ten checkpoints spread evenly over the run, against the test images in a feature network's
space, each with the wall-clock seconds that metrics.jsonl logged at its step. Measured after
training, so that the probe takes nothing from a wall-clock budget. Prints one JSON line per
checkpoint, with metrics.jsonl's key names, which launch/plot.py draws beside metrics.jsonl.

    python3 launch/checkpoint-scores.py DISTRIBUTED RUN_DIR FEATURES.safetensors > RUN_DIR/checkpoint-scores.jsonl
"""
import json
import os
import re
import subprocess
import sys

POINTS = 10
SAMPLES = 2000


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    executable, run, features = sys.argv[1:]
    folder = os.path.join(run, "checkpoints")
    steps = sorted(int(m.group(1)) for name in os.listdir(folder) if (m := re.fullmatch(r"step-(\d+)\.safetensors", name)))
    if not steps:
        sys.exit(f"checkpoint-scores: {folder} has no step-N.safetensors checkpoints")
    chosen = sorted({steps[round(i * (len(steps) - 1) / max(POINTS - 1, 1))] for i in range(POINTS)})
    seconds = {}
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for line in f:
            entry = json.loads(line)
            if "seconds" in entry:
                seconds[int(entry["step"])] = entry["seconds"]
    config = json.load(open(os.path.join(run, "config.json")))
    for step in chosen:
        logged = [s for s in seconds if s <= step]
        if not logged:
            sys.exit(f"checkpoint-scores: {run}/metrics.jsonl logged no step at or before {step}")
        result = subprocess.run(
            [executable, "score", "--checkpoint", os.path.join(folder, f"step-{step}.safetensors"), "--count", str(SAMPLES),
             "--dataset", config["dataset"], "--data", config["data"], "--features", features],
            check=True, capture_output=True, text=True)
        score = json.loads(result.stdout.strip().splitlines()[-1])
        print(json.dumps({"step": step, "seconds": seconds[max(logged)], "fd": score["fid"], "is": score["is"]}), flush=True)


if __name__ == "__main__":
    main()

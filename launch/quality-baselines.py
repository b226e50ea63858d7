#!/usr/bin/env python3
"""What FD and IS mean in a feature space: the scores of sets whose quality is known, against
Fashion-MNIST's 10,000 test images. Writes three sets of real images as the .npz that `sample`
writes (arr_0, uint8 (N, 32, 32, 1), the 28x28 images centred as the readers pad them), then
runs `Distributed score` on each and prints a markdown table (docs/results.md):

  train        the first 10,000 training images: as good as samples can be (FD near 0)
  blurred      the same images through a 5x5 box blur: right shapes, no detail
  one class    the 6,000 training images of one class (trouser): sharp, no diversity

    python3 launch/quality-baselines.py FEATURES.safetensors [--data DIR] [--distributed PATH]

Needs numpy (Debian: python3-numpy).
"""
import argparse
import gzip
import json
import os
import subprocess
import tempfile

import numpy as np


def idx(path, offset):
    with gzip.open(path) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def padded(images):
    out = np.zeros((len(images), 32, 32, 1), np.uint8)
    out[:, 2:30, 2:30, 0] = images
    return out


def box_blur(images, k=5):
    """Mean over a k x k window, zero beyond the edges."""
    x = np.pad(images.astype(np.float64), ((0, 0), (k // 2, k // 2), (k // 2, k // 2)))
    total = sum(x[:, i:i + 28, j:j + 28] for i in range(k) for j in range(k))
    return np.rint(total / (k * k)).astype(np.uint8)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("features")
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--distributed", default=".build/release/Distributed")
    args = parser.parse_args()

    images = idx(os.path.join(args.data, "train-images-idx3-ubyte.gz"), 16).reshape(-1, 28, 28)
    labels = idx(os.path.join(args.data, "train-labels-idx1-ubyte.gz"), 8)
    sets = {
        "train (10,000 training images)": images[:10000],
        "blurred (the same, 5x5 box blur)": box_blur(images[:10000]),
        "one class (6,000 trousers)": images[labels == 1],
    }
    print("| set | images | FD | IS | KID | precision | recall |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for name, chosen in sets.items():
            path = os.path.join(folder, "set.npz")
            np.savez(path, padded(chosen))
            line = subprocess.run([args.distributed, "score", "--samples", path, "--dataset", "fashion-mnist",
                                   "--data", args.data, "--features", args.features],
                                  check=True, stdout=subprocess.PIPE, text=True).stdout
            s = json.loads(line)
            print(f"| {name} | {s['images']} | {s['fid']:.3f} | {s['is']:.2f} ± {s['is_std']:.2f} | "
                  f"{s['kid']:.3f} ± {s['kid_std']:.3f} | {s['precision']:.3f} | {s['recall']:.3f} |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""pytorch-fid's side of launch/compare-inception.sh: its FID Inception v3 forward pass, timed
as our `Distributed bench --inception` times ours, and the random weights both run.

    python bench-pytorch-fid.py --make-weights random.pth
    python bench-pytorch-fid.py --weights random.pth [--batch 50] [--size 32] [--steps 5] [--threads 1]

--make-weights writes a state dict under pytorch-fid's names: Tests/make_inception_fixtures.py's
random weights with batch norms calibrated on images, so that activations stay O(1) (with
PyTorch's default initialisation they would shrink into denormal floats, which are slow on
either side). --weights times pytorch_fid.inception.InceptionV3 (2048-d pool block, its resize to
299x299 and scaling) plus the fc that gives the 1008 logits, under torch.no_grad() as
pytorch-fid's get_activations runs it, on --batch uniform-noise RGB images of --size pixels
square; one warm-up pass, then the median of --steps passes on the wall clock, printed as
{"images_per_s", "batch_s", "fastest_batch_s", ...} on one line.
"""
import argparse
import json
import pathlib
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "Tests"))
import make_inception_fixtures as fixtures  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--make-weights", metavar="PATH")
    parser.add_argument("--weights", metavar="PATH")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.make_weights:
        rng = np.random.default_rng(fixtures.SEED)
        inception = fixtures.fid_inception_structure()
        fixtures.random_weights(inception, rng)
        fixtures.calibrate(inception, [fixtures.random_images(rng, 4, 1, 28), fixtures.random_images(rng, 4, 3, 64)])
        torch.save(inception.state_dict(), args.make_weights)
        return
    if not args.weights:
        parser.error("give --make-weights PATH or --weights PATH")
    model, fc = fixtures.pytorch_fid_model(torch.load(args.weights, map_location="cpu", weights_only=True))
    images = torch.rand(args.batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(1))

    def forward():
        with torch.no_grad():
            fc(model(images)[0].flatten(1))

    forward()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        forward()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(json.dumps({"op": "pytorch_fid_forward", "batch": args.batch, "size": args.size, "threads": args.threads,
                      "steps": args.steps, "images_per_s": args.batch / median, "batch_s": median,
                      "fastest_batch_s": min(times), "torch": torch.__version__}))


if __name__ == "__main__":
    main()

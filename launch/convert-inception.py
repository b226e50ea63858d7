#!/usr/bin/env python3
"""Converts pytorch-fid's Inception weights to the safetensors file `score` reads.

    python3 launch/convert-inception.py pt_inception-2015-12-05-6726825d.pth inception.safetensors

The published file (https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/
pt_inception-2015-12-05-6726825d.pth) is a pickled PyTorch state dict, which only PyTorch reads:
this needs torch and safetensors (`pip install torch safetensors`; the CPU build of torch is
enough) on any machine, and the .safetensors it writes then goes to the machines that score.
Every floating-point tensor is kept under its own name (Conv2d_1a_3x3.conv.weight,
Mixed_5b.branch1x1.bn.running_mean, ..., fc.weight, fc.bias), as float32; integer tensors
(batch norm's num_batches_tracked counters, which evaluation never reads) are left out.
"""
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} pt_inception-2015-12-05-6726825d.pth inception.safetensors")
    source, destination = sys.argv[1], sys.argv[2]
    try:
        import torch
        from safetensors.torch import save_file
    except ImportError as error:
        sys.exit(f"convert-inception needs PyTorch and safetensors ({error}): pip install torch safetensors")
    state = torch.load(source, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(t, torch.Tensor) for t in state.values()):
        sys.exit(f"{source} is not a state dict (a mapping from names to tensors)")
    tensors = {name: t.detach().to(torch.float32).contiguous() for name, t in state.items() if t.is_floating_point()}
    if "fc.weight" not in tensors or "Mixed_7c.branch_pool.conv.weight" not in tensors:
        sys.exit(f"{source} has no fc.weight or Mixed_7c.branch_pool.conv.weight: not pytorch-fid's Inception v3")
    save_file(tensors, destination, metadata={"source": source.rsplit("/", 1)[-1], "writer": "launch/convert-inception.py"})
    count = sum(t.numel() for t in tensors.values())
    print(f"{destination}: {len(tensors)} tensors, {count} float32 values ({len(state) - len(tensors)} integer tensors left out)")


if __name__ == "__main__":
    main()

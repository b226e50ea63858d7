#!/usr/bin/env python3
"""The PyTorch twin's reference values for the Swift tests, written as safetensors files into
Tests/CQFTests/Fixtures/ (the tests read the committed files and need no Python).

Run from the repository root with a Python that has torch and safetensors
(`pip install torch safetensors`):

    python Tests/make_fixtures.py

Deterministic: every value comes from seeded generators, the arithmetic is float64 on one
thread, and each fixture stores its inputs beside its outputs, so the Swift side rebuilds
exactly what was computed here.
"""
import pathlib

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

FIXTURES = pathlib.Path(__file__).resolve().parent / "CQFTests" / "Fixtures"


def gradient_penalty():
    """WGAN-GP on a small conv net made of the engine's ops, and its gradient with respect to
    every weight (double backprop). Shapes: images (N, 3, 8, 8), N = 3.

    D(x) = dense(gap(elu(meanpool2x2(leaky_relu(conv3x3/2(relu(conv3x3(x)))))))), biases per channel
    GP   = mean_n (||grad_xhat sum D(xhat)||_2 - 1)^2, the norm over each image,
           xhat = x_real + a (x_fake - x_real), a (N, 1, 1, 1)
    """
    generator = torch.Generator().manual_seed(20180530)

    def uniform(*shape, bound):
        return (torch.rand(*shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound

    # PyTorch's default init bounds (1/sqrt(fan_in)), scaled up so the input gradient's norm is
    # of order 1 and the penalty's gradient is far from zero everywhere.
    weights = {
        "conv1.weight": uniform(8, 3, 3, 3, bound=3 / 27 ** 0.5),
        "conv1.bias": uniform(8, bound=0.3),
        "conv2.weight": uniform(8, 8, 3, 3, bound=3 / 72 ** 0.5),
        "conv2.bias": uniform(8, bound=0.3),
        "dense.weight": uniform(1, 8, bound=3 / 8 ** 0.5),
        "dense.bias": uniform(1, bound=0.3),
    }
    inputs = {
        "x_real": uniform(3, 3, 8, 8, bound=1),
        "x_fake": uniform(3, 3, 8, 8, bound=1),
        "a": torch.rand(3, 1, 1, 1, generator=generator, dtype=torch.float64),
    }
    # The Swift side computes in float32 from float32 values: round the inputs first, then
    # compute in float64, so the reference differs from the exact result only in its last bits.
    weights = {k: v.float().double().requires_grad_() for k, v in weights.items()}
    inputs = {k: v.float().double() for k, v in inputs.items()}

    def discriminator(x):
        h = F.relu(F.conv2d(x, weights["conv1.weight"], weights["conv1.bias"], padding=1))
        h = F.leaky_relu(F.conv2d(h, weights["conv2.weight"], weights["conv2.bias"], stride=2, padding=1), 0.2)
        h = F.elu(F.avg_pool2d(h, 2))
        return F.linear(h.mean(dim=(2, 3)), weights["dense.weight"], weights["dense.bias"])

    x_real, x_fake, a = inputs["x_real"], inputs["x_fake"], inputs["a"]
    xhat = (x_real + a * (x_fake - x_real)).requires_grad_()
    logits = discriminator(xhat)
    (input_gradient,) = torch.autograd.grad(logits.sum(), xhat, create_graph=True)
    norms = input_gradient.flatten(1).norm(dim=1)
    penalty = ((norms - 1) ** 2).mean()
    names = list(weights)
    # The dense bias does not reach the input gradient: its penalty gradient is zero.
    gradients = torch.autograd.grad(penalty, [weights[k] for k in names], allow_unused=True, materialize_grads=True)

    tensors = {f"d.{k}": v.detach() for k, v in weights.items()}
    tensors.update(inputs)
    tensors["logits"] = logits.detach()
    tensors["input_gradient_norms"] = norms.detach()
    tensors["penalty"] = penalty.detach()
    tensors.update({f"penalty_grad.d.{k}": g for k, g in zip(names, gradients)})
    save_file({k: v.float().contiguous() for k, v in tensors.items()}, FIXTURES / "gradient_penalty.safetensors",
              metadata={"writer": "Tests/make_fixtures.py", "fixture": "gradient_penalty"})
    print(f"gradient_penalty.safetensors: penalty {penalty.item():.6f}, norms {[round(n, 4) for n in norms.tolist()]}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    gradient_penalty()

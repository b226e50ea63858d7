#!/usr/bin/env python3
"""pytorch-fid's own FID Inception v3 on random weights, written as a small safetensors fixture
into Tests/CQFTests/Fixtures/inception_v3_fid.safetensors and read by
Tests/CQFTests/Features/InceptionV3Tests.swift (which needs no Python).

The published weights (pt_inception-2015-12-05-6726825d.pth) cannot be downloaded on these
machines, so the network is pytorch-fid's InceptionV3 built by pytorch-fid's own
fid_inception_v3(), with its one download call (load_state_dict_from_url) handed a state dict of
random weights instead. The weights are made so that every layer stays O(1):
  - each convolution weight and fc.weight is (2u - 1) / sqrt(fan_in) in float32, u the Philox
    uniforms of (seed GENERATED_SEED, stream GENERATED_STREAM, a = the tensor's counter, b = 0)
    as Philox.fillUniform draws them (Tests/make_model_fixtures.py's philox_uniform): 24M values
    that the Swift test regenerates instead of reading 96 MB;
  - each batch norm's running mean and variance are calibrated: one pass in training mode
    (momentum None) over 8 other images of the same kinds sets them to that batch's statistics,
    so every layer's output keeps a spread of about 0.7 instead of vanishing or exploding
    through 94 layers; its gamma is U(0.5, 1.0) and its beta U(0.8, 1.6), which keeps most
    units above the ReLU's kink: a random network whose ReLUs cut half the units (beta about 0)
    grows any perturbation, rounding included, by about 1.2x per layer, and PyTorch's own
    float32 forward then lies 3e-4 from float64, too far to test a 1e-4 tolerance against
    (here it is about 5e-6);
  - fc.bias is U(-0.1, 0.1).
The script prints each BasicConv2d's output standard deviation on the fixture's images.

Run from the repository root with a Python that has pytorch-fid, torch, torchvision, numpy and
safetensors (Tests/make_model_fixtures.py, whose Philox it imports, also imports the twin
../shared/anchors/cqf_ref.py, or the folder CQF_TWIN names):

    python Tests/make_inception_fixtures.py

What the fixture holds (names are pytorch-fid's state-dict names):
  generated.<name>     [counter, bound, d0, d1, ...]: a weight (every conv.weight, fc.weight) whose
                       values are (2u - 1) * bound in float32, u as above, and its shape
  param.<name>         every other tensor: bn.weight, bn.bias, bn.running_mean, bn.running_var,
                       fc.bias (float32, as the model used them)
  images.gray          (3, 1, 28, 28) uint8 pixels / 255: resized to 299x299 and repeated to RGB
  images.rgb           (2, 3, 64, 64) uint8 pixels / 255
  features.<kind>      pytorch-fid's 2048-d pool features of images.<kind>, (N, 2048)
  logits.<kind>        those features times fc.weight transposed, (N, 1008), without fc.bias: the
                       logits the Inception Score takes (pytorch-fid's InceptionV3 drops fc; it
                       is fid_inception_v3()'s own fc)
The references are computed in float64 from the float32 weights and images (gray images are
repeated to three channels before pytorch-fid sees them, as its image loader does), so they
differ from exact arithmetic only in their last bits; the script also prints how far PyTorch's
own float32 forward lies from them, the scale of error a float32 implementation can expect.
"""
import pathlib
import sys

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_fid import inception as fid_inception
from safetensors.torch import save_file

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_model_fixtures import philox_uniform  # noqa: E402

FIXTURE = HERE / "CQFTests" / "Fixtures" / "inception_v3_fid.safetensors"
GENERATED_SEED, GENERATED_STREAM = 2015, 12
SEED = 1205
UNIFORM_RANGES = {"bn.weight": (0.5, 1.0), "bn.bias": (0.8, 1.6), "fc.bias": (-0.1, 0.1)}


def fid_inception_structure():
    """The modules fid_inception_v3() builds, before it loads the published weights."""
    inception = fid_inception._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    inception.Mixed_5b = fid_inception.FIDInceptionA(192, pool_features=32)
    inception.Mixed_5c = fid_inception.FIDInceptionA(256, pool_features=64)
    inception.Mixed_5d = fid_inception.FIDInceptionA(288, pool_features=64)
    inception.Mixed_6b = fid_inception.FIDInceptionC(768, channels_7x7=128)
    inception.Mixed_6c = fid_inception.FIDInceptionC(768, channels_7x7=160)
    inception.Mixed_6d = fid_inception.FIDInceptionC(768, channels_7x7=160)
    inception.Mixed_6e = fid_inception.FIDInceptionC(768, channels_7x7=192)
    inception.Mixed_7b = fid_inception.FIDInceptionE_1(1280)
    inception.Mixed_7c = fid_inception.FIDInceptionE_2(2048)
    return inception


def pytorch_fid_model(state_dict):
    """pytorch-fid's InceptionV3 (2048-d pool features), its download answered with `state_dict`,
    and the fc layer of the same state dict."""
    download = fid_inception.load_state_dict_from_url
    fid_inception.load_state_dict_from_url = lambda *args, **kwargs: state_dict
    try:
        model = fid_inception.InceptionV3([fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
    finally:
        fid_inception.load_state_dict_from_url = download
    fc = torch.nn.Linear(2048, 1008)
    fc.load_state_dict({"weight": state_dict["fc.weight"], "bias": state_dict["fc.bias"]})
    return model.eval(), fc.eval()


def random_images(rng, count, channels, size):
    pixels = rng.integers(0, 256, size=(count, channels, size, size), dtype=np.uint8)
    return torch.from_numpy(pixels.astype(np.float32) / np.float32(255))


def as_rgb(images):
    return images.repeat(1, 3, 1, 1) if images.shape[1] == 1 else images


def random_weights(inception, rng):
    """Philox weights for every conv and fc weight, seeded uniforms for the rest; returns the
    fixture's generated.* and param.* entries."""
    entries = {}
    counter = 0
    with torch.no_grad():
        for name, tensor in inception.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("conv.weight") or name == "fc.weight":
                bound = np.float32(1 / np.sqrt(tensor[0].numel()))
                u = philox_uniform(GENERATED_SEED, GENERATED_STREAM, counter, 0, tensor.numel())
                values = (np.float32(2) * u - np.float32(1)) * bound
                tensor.copy_(torch.from_numpy(values).view(tensor.shape))
                entries[f"generated.{name}"] = torch.tensor([counter, float(bound), *tensor.shape], dtype=torch.float64)
                counter += 1
                continue
            uniform = next((bounds for suffix, bounds in UNIFORM_RANGES.items() if name.endswith(suffix)), None)
            if uniform:
                tensor.copy_(torch.from_numpy(rng.uniform(*uniform, tensor.shape).astype(np.float32)))
    return entries


def calibrate(inception, batches):
    """Sets every batch norm's running statistics to those of the images of `batches` together,
    layer by layer in one training-mode pass: what each layer sees is already normalised by the
    layers before it."""
    for module in inception.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    resized = [F.interpolate(as_rgb(batch), size=(299, 299), mode="bilinear", align_corners=False) for batch in batches]
    inception.train()
    with torch.no_grad():
        inception(2 * torch.cat(resized) - 1)
    inception.eval()


def reference(model, fc, images, dtype):
    model, fc = model.to(dtype), fc.to(dtype)
    with torch.no_grad():
        features = model(as_rgb(images).to(dtype))[0].flatten(1)
        # The Inception Score's logits leave out fc's bias (Salimans et al.'s code, torch-fidelity's logits_unbiased).
        return features, features @ fc.weight.T


def activation_spread(model, images):
    """(smallest, largest) standard deviation of a BasicConv2d's output on `images`."""
    spreads = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: spreads.append(out.std().item()))
             for m in model.modules() if type(m).__name__ == "BasicConv2d"]
    reference(model, torch.nn.Linear(2048, 1008), images, torch.float64)
    for hook in hooks:
        hook.remove()
    return len(spreads), min(spreads), max(spreads)


def main():
    torch.set_num_threads(1)
    rng = np.random.default_rng(SEED)
    inception = fid_inception_structure()
    entries = random_weights(inception, rng)
    calibrate(inception, [random_images(rng, 4, 1, 28), random_images(rng, 4, 3, 64)])
    state = {name: tensor.float().clone() for name, tensor in inception.state_dict().items()}
    for name, tensor in state.items():
        if not name.endswith("num_batches_tracked") and f"generated.{name}" not in entries:
            entries[f"param.{name}"] = tensor

    images = {"gray": random_images(rng, 3, 1, 28), "rgb": random_images(rng, 2, 3, 64)}
    model, fc = pytorch_fid_model(state)
    for kind, batch in images.items():
        entries[f"images.{kind}"] = batch
        features, logits = reference(model, fc, batch, torch.float64)
        entries[f"features.{kind}"], entries[f"logits.{kind}"] = features, logits
        features32, logits32 = reference(model, fc, batch, torch.float32)
        for what, ours, exact in (("features", features32, features), ("logits", logits32, logits)):
            error = ((ours.double() - exact).abs().max() / exact.abs().max()).item()
            print(f"{kind} {what}: scale {exact.abs().max().item():.4g}, PyTorch float32 vs float64 {error:.2e}")
        count, low, high = activation_spread(model, batch)
        print(f"{kind}: the {count} BasicConv2d outputs have standard deviations {low:.3f} to {high:.3f}")

    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    save_file({name: tensor.float().contiguous() for name, tensor in entries.items()}, FIXTURE,
              metadata={"writer": "Tests/make_inception_fixtures.py", "generated_seed": str(GENERATED_SEED),
                        "generated_stream": str(GENERATED_STREAM)})
    print(f"{FIXTURE.name}: {len(entries)} tensors, {FIXTURE.stat().st_size} bytes")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The PyTorch twin's values for a whole small CQF model, written as safetensors fixtures into
Tests/CQFTests/Fixtures/ and read through Tests/CQFTests/Model/TwinFixture.swift by
TwinFixtureTests, TwinOptionTests (free_bits, large_d) and TwinEvaluationTests (`eval`), which
need no Python. The twin is ../shared/anchors/cqf_ref.py, imported as it is (CQF_TWIN names its folder
when it lives elsewhere); this script only sets its weights, feeds it fixed inputs and noise, and
renames its parameters to ours.

Run from the repository root with a Python that has torch, numpy and safetensors:

    python Tests/make_model_fixtures.py

Two models, both image size 32, stage widths [8, 8, 16, 16], z 4, first conv 8, Real NVP with
8 filters and 1 block per coupling, max_logscale 4, batch 4:
  cqf_3ch_1scale.safetensors   3 channels, 1 scale (checkerboard couplings only)
  cqf_1ch_2scales.safetensors  1 channel, 2 scales (squeeze, channel couplings, factor-out)

Every value is computed in float64 from float32-rounded weights and inputs, so the reference
differs from exact arithmetic only in its last bits. What a fixture holds (names are ours):
  param.<name>             every parameter (PyTorch's seeded init, and seeded random values where
                           PyTorch starts at a constant, so no coupling is the identity)
  generated.<name>         [counter, bound]: a discriminator weight too big to store (> 16384 values;
                           the residual D is 1.2M parameters whatever the image): its values are
                           (2u - 1) * bound in float32, u the Philox uniforms of (seed GENERATED_SEED,
                           stream GENERATED_STREAM, a = counter, b = 0), as Philox.fillUniform draws them
  buffer.<name>            f's batch-norm running averages (used by generation)
  x, eps.posterior.stageI, eps.prior.stageI, a     inputs: images in [0, 1], latent noise, the GP's
                           interpolation weights (drawn as StepNoise draws them: seed SEED, step STEP)
  outputs                  f.v, f.logdet, logit.logdet, encoder.mean.stageI, encoder.logscale.stageI,
                           decoder.mean, kl.stageI, logpx, kl, nll, L_C, generated, L_Q,
                           discriminator.real_logits, discriminator.fake_logits (on `generated`),
                           D.adversarial, D.penalty, D.loss
  grad.L_C.<name>          every generator parameter (f, encoder, decoder)
  grad.L_Q.<name>          every decoder parameter (f is held constant in generation)
  grad.D.<name>            every discriminator parameter, of D.loss (with lambda_GP * penalty);
                           values 0, s, 2s, ... of the flattened gradient, s = ceil(count / 4096)
  eval.images              EVAL_IMAGES uint8 images (as floats) for `eval`, which the twin's eval_nll
                           scores in evaluation mode (f on the stored running averages) with our
                           noise: dequantisation as EvaluationBatches draws it and latents as
                           CQFModel.negativeLogLikelihood draws them (Philox, seed 0, step 0)
  eval.nll.k1, eval.nll.k<EVAL_K>   per-image NLL: the ELBO and the importance-weighted bound
  eval.bpd, eval.bpd_iw    their means in bits per dimension (the metadata says eval_k)
  L_C_free_bits, grad.L_C_free_bits.<name>   L_C with free bits (metadata free_bits: the median
                           of the stages' per-channel KLs, so some are raised and some are not)
                           at the same noise, and its gradients
  large_d.param.<name>, large_d.generated.<name>   a residual discriminator with large_d (every
                           width doubled), stored as above (generated counters from LARGE_D_COUNTERS)
  large_d.real_logits, large_d.fake_logits   its logits on x and on `generated`
"""
import contextlib
import math
import os
import pathlib
import re
import sys

import numpy as np
import torch
from safetensors.torch import save_file

HERE = pathlib.Path(__file__).resolve().parent
FIXTURES = HERE / "CQFTests" / "Fixtures"
sys.path.insert(0, os.environ.get("CQF_TWIN", str(HERE.parents[1] / "shared" / "anchors")))
import cqf_ref  # noqa: E402

BATCH = 4
SEED, STEP = 11, 3                 # the StepNoise that draws the GP's a in the Swift test
PENALTY_STREAM = 5                 # PhiloxStream.penaltyInterpolation
GENERATED_SEED, GENERATED_STREAM = 2019, 4
GENERATED_ABOVE = 16384
GRADIENT_SAMPLES = 4096
EVAL_IMAGES, EVAL_K = 6, 3         # eval: two batches of BATCH, the second short
EVAL_DEQUANTISATION_STREAM = 3     # PhiloxStream.evaluationDequantisation
EVAL_LATENT_STREAM = 96            # PhiloxStream.evaluationLatents: sample k, stage i use 96 + 64 k + i
LARGE_D_COUNTERS = 100             # generated counters of the large_d discriminator start here

# ----------------------------------------------------------------------------- Philox (ours)

M32, M64 = 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF


def splitmix64(x):
    z = (x + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def philox_blocks(seed, stream, a, b, blocks):
    """Philox.block of Sources/CQF/Random/Philox.swift: the Philox4x32-10 blocks of counters
    (0 ..< blocks, b, low a, high a), as a (blocks, 4) array of 32-bit words."""
    key = splitmix64(splitmix64(seed) ^ stream)
    k0, k1 = np.uint64(key & M32), np.uint64(key >> 32)
    c = [np.arange(blocks, dtype=np.uint64), np.full(blocks, b, np.uint64),
         np.full(blocks, a & M32, np.uint64), np.full(blocks, a >> 32, np.uint64)]
    mask = np.uint64(M32)
    for r in range(10):
        if r > 0:
            k0, k1 = (k0 + np.uint64(0x9E3779B9)) & mask, (k1 + np.uint64(0xBB67AE85)) & mask
        p0, p1 = np.uint64(0xD2511F53) * c[0], np.uint64(0xCD9E8D57) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & mask, (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & mask]
    return np.stack(c, 1)


def philox_uniform(seed, stream, a, b, count):
    """Philox.fillUniform: element i is word i % 4 of block i / 4, as (word >> 8) * 2^-24 (float32)."""
    words = philox_blocks(seed, stream, a, b, (count + 3) // 4).reshape(-1)[:count]
    return (words >> np.uint64(8)).astype(np.float32) * np.float32(2.0 ** -24)


def philox_normal(seed, stream, a, b, count):
    """Philox.fillNormal: Box-Muller on words (0, 1) and (2, 3) of block i / 4, u1 in (0, 1],
    in float64 and rounded to float32 (ours computes in float32: they differ in the last bits)."""
    words = philox_blocks(seed, stream, a, b, (count + 3) // 4).reshape(-1, 2, 2)
    u1 = ((words[..., 0] >> np.uint64(8)).astype(np.float64) + 1) * 2.0 ** -24
    u2 = (words[..., 1] >> np.uint64(8)).astype(np.float64) * 2.0 ** -24
    radius, angle = np.sqrt(-2 * np.log(u1)), 2 * np.pi * u2
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], -1).reshape(-1)[:count].astype(np.float32)


def evaluation_dequantisation(image, index):
    """BatchLoader.dequantise as EvaluationBatches calls it: pixel i of image `index` gets the 16
    bits (i % 2) of word (i % 8) / 2 of block i / 8, u = bits / 2^16, counter (i / 8, index, 0)."""
    count = image.numel()
    words = philox_blocks(0, EVAL_DEQUANTISATION_STREAM, 0, index, (count + 7) // 8).reshape(-1)
    halves = np.stack([words & np.uint64(0xFFFF), words >> np.uint64(16)], 1).reshape(-1)[:count]
    return torch.from_numpy(halves.astype(np.float64) / 65536).view(image.shape)


# ----------------------------------------------------------------------------- names

# The twin's module paths -> ours (Sources/CQF/Model). Every twin name must be renamed by
# these rules into one of our four networks; the Swift test checks each result against our model.
RENAMES = [
    (r"^f\.checker\.(\d+)\.(\d+)\.", r"f.scale\1.checker\2."),
    (r"^f\.channel\.(\d+)\.(\d+)\.", r"f.scale\1.channel\2."),
    (r"\.nn\.inp\.", ".nn.input."),
    (r"\.nn\.out\.", ".nn.output."),
    (r"\.nn\.blocks\.(\d+)\.c(\d)\.", r".nn.block\1.conv\2."),
    (r"\.nn\.blocks\.(\d+)\.bn(\d)\.", r".nn.block\1.bn\2."),
    (r"^enc\.first\.", "encoder.first."),
    (r"^enc\.blocks\.(\d+)\.c(\d)\.", r"encoder.stage\1.block.conv\2."),
    (r"^enc\.blocks\.(\d+)\.skip\.", r"encoder.stage\1.block.skip."),
    (r"^enc\.heads\.(\d+)\.", r"encoder.stage\1.head."),
    (r"^dec\.d0$", "decoder.start"),
    (r"^dec\.pconv\.(\d+)\.", r"decoder.stage\1.prior."),
    (r"^dec\.blocks\.(\d+)\.c(\d)\.", r"decoder.stage\1.block.conv\2."),
    (r"^dec\.blocks\.(\d+)\.skip\.", r"decoder.stage\1.block.skip."),
    (r"^dec\.up\.(\d+)\.", r"decoder.stage\1.up."),
    (r"^dec\.out\.", "decoder.output."),
    (r"^dec\.logsigma$", "decoder.logsigma"),
    (r"^disc\.inp\.", "discriminator.input."),
    # The twin counts D's residual blocks from 0, MODEL.md's list (and we) from the first, 32 wide.
    (r"^disc\.blocks\.(\d+)\.c(\d)\.", lambda m: f"discriminator.block{int(m[1]) + 1}.conv{m[2]}."),
    (r"^disc\.blocks\.(\d+)\.skip\.", lambda m: f"discriminator.block{int(m[1]) + 1}.skip."),
    (r"^disc\.dense\.", "discriminator.dense."),
]


def our_name(twin):
    name = twin
    for pattern, replacement in RENAMES:
        name = re.sub(pattern, replacement, name)
    assert name.split(".")[0] in ("f", "encoder", "decoder", "discriminator") and name != twin, \
        f"no rule renames the twin's parameter {twin} (got {name})"
    return name


# ----------------------------------------------------------------------------- noise

@contextlib.contextmanager
def latent_noise(rng, record=None, replay=None):
    """The twin draws each stage's eps with torch.randn, top stage first: draw float32-rounded
    normals and record them (so the Swift test can inject them), or replay recorded ones."""
    original = torch.randn
    queue = list(replay or [])

    def randn(shape, generator=None):
        if replay is not None:
            eps = queue.pop(0)
            assert eps.shape == tuple(shape)
            return eps
        eps = original(shape, generator=rng, dtype=torch.float32).double()
        record.append(eps)
        return eps

    torch.randn = randn
    try:
        yield
    finally:
        torch.randn = original


@contextlib.contextmanager
def fixed_uniforms(values):
    """The twin draws U[0, 1) values with torch.rand (the WGAN-GP's a, eval's dequantisation
    noise): hand it ours."""
    original = torch.rand
    torch.rand = lambda *shape, **kw: values
    try:
        yield
    finally:
        torch.rand = original


@contextlib.contextmanager
def evaluation_latents(images, stages):
    """The twin's decoder draws each stage's eps with torch.randn, top stage first, sample after
    sample: hand it ours, image n of sample k, stage i from Philox(0, EVAL_LATENT_STREAM + 64 k + i),
    counter (0, n), as CQFModel.negativeLogLikelihood draws them."""
    original = torch.randn
    calls = 0

    def randn(shape, generator=None):
        nonlocal calls
        k, stage = calls // stages, stages - 1 - calls % stages
        calls += 1
        per_image = math.prod(shape[1:])
        eps = [philox_normal(0, EVAL_LATENT_STREAM + 64 * k + stage, 0, n, per_image) for n in range(images)]
        return torch.from_numpy(np.stack(eps).astype(np.float64)).view(shape)

    torch.randn = randn
    try:
        yield
    finally:
        torch.randn = original


def generated_weights(p, counter):
    """Fills p with (2u - 1) * bound in float32, u the Philox uniforms of (GENERATED_SEED,
    GENERATED_STREAM, a = counter, b = 0) and bound PyTorch's 1/sqrt(fan_in); returns the
    generated.<name> entry [counter, bound] from which the Swift test makes the same values."""
    bound = np.float32(1 / math.sqrt(p[0].numel()))
    u = philox_uniform(GENERATED_SEED, GENERATED_STREAM, counter, 0, p.numel())
    values = (np.float32(2) * u - np.float32(1)) * bound
    p.copy_(torch.from_numpy(values.astype(np.float64)).view(p.shape))
    return torch.tensor([counter, float(bound)])


def evaluation(model, cfg, channels, seed):
    """`eval` on EVAL_IMAGES images: the twin's eval_nll, K = 1 (the ELBO) and EVAL_K, in
    evaluation mode, with our dequantisation and latent noise."""
    x_int = torch.randint(0, 256, (EVAL_IMAGES, channels, 32, 32), generator=torch.Generator().manual_seed(seed + 2))
    u = torch.stack([evaluation_dequantisation(image, n) for n, image in enumerate(x_int)])
    model.eval()
    nll = {}
    for k in (1, EVAL_K):
        with fixed_uniforms(u), evaluation_latents(EVAL_IMAGES, len(cfg["widths"])):
            nll[k] = model.eval_nll(x_int, K=k)
    model.train()
    D = channels * 32 * 32
    return {"eval.images": x_int.double(), "eval.nll.k1": nll[1], f"eval.nll.k{EVAL_K}": nll[EVAL_K],
            "eval.bpd": torch.tensor(cqf_ref.bpd_from_nll(nll[1].mean().item(), D)),
            "eval.bpd_iw": torch.tensor(cqf_ref.bpd_from_nll(nll[EVAL_K].mean().item(), D))}


def by_stage(draws, kind):
    """Draws in the twin's order (top stage first) -> {eps.<kind>.stageI}."""
    n = len(draws)
    return {f"eps.{kind}.stage{n - 1 - k}": eps for k, eps in enumerate(draws)}


# ----------------------------------------------------------------------------- one fixture

def fixture(path, channels, scales, seed):
    torch.manual_seed(seed)
    cfg = cqf_ref.make_config(objective="cqf", channels=channels, image_size=32, batch_size=BATCH,
                              widths=[8, 8, 16, 16], z=4, first=8, max_logscale=4.0,
                              nvp=dict(scales=scales, blocks=1, filters=8))
    model = cqf_ref.CQFModel(cfg)
    rng = torch.Generator().manual_seed(seed + 1)

    def uniform(shape, low, high):
        return low + (high - low) * torch.rand(shape, generator=rng, dtype=torch.float64)

    tensors = {}
    with torch.no_grad():
        for twin, p in model.named_parameters():
            ours = our_name(twin)
            # Where PyTorch starts at a constant, random values: a zero output layer makes a
            # coupling the identity, and ones and zeros hide a swapped gamma and beta.
            if re.search(r"\.nn\.out\.(g|bias)$", twin):
                p.copy_(uniform(p.shape, 0.1, 0.4) if twin.endswith(".g") else uniform(p.shape, -0.1, 0.1))
            elif twin.endswith(".scale") or re.search(r"\.bn\d?\.weight$", twin):
                p.copy_(uniform(p.shape, 0.5, 1.5))
            elif re.search(r"\.bn\d?\.bias$", twin):
                p.copy_(uniform(p.shape, -0.2, 0.2))
            elif twin == "dec.d0":
                p.copy_(uniform(p.shape, -0.5, 0.5))
            elif twin == "dec.logsigma":
                p.copy_(torch.tensor(-0.3))
            if twin.startswith("disc.") and p.numel() > GENERATED_ABOVE:
                counter = len([k for k in tensors if k.startswith("generated.")])
                tensors[f"generated.{ours}"] = generated_weights(p, counter)
            else:
                p.copy_(p.float().double())
                tensors[f"param.{ours}"] = p.detach().clone()
        for twin, b in model.named_buffers():
            if twin.endswith("running_mean"):
                b.copy_(uniform(b.shape, -0.3, 0.3).float().double())
            elif twin.endswith("running_var"):
                b.copy_(uniform(b.shape, 0.5, 1.5).float().double())
            else:
                continue
            stem, leaf = twin.rsplit(".", 1)
            tensors[f"buffer.{our_name(stem + '.weight').rsplit('.', 1)[0]}.{leaf}"] = b.detach().clone()

    x_int = torch.randint(0, 256, (BATCH, channels, 32, 32), generator=rng).double()
    x = ((x_int + torch.rand(x_int.shape, generator=rng, dtype=torch.float64)) / 256).float().double()
    a = torch.from_numpy(np.stack([philox_uniform(SEED, PENALTY_STREAM, STEP, n, 1) for n in range(BATCH)]))
    a = a.double().view(BATCH, 1, 1, 1)
    tensors.update(x=x, a=a)
    names = {p: our_name(t) for t, p in model.named_parameters()}

    # Generation first, while f's running averages are the ones stored.
    prior = []
    with latent_noise(rng, record=prior):
        fake = model.sample_x(BATCH)
    tensors.update(by_stage(prior, "prior"))
    # Evaluation next, while f's running averages are still the stored ones.
    tensors.update(evaluation(model, cfg, channels, seed))
    L_Q = -model.disc(2 * fake - 1).mean()
    decoder = list(model.dec.parameters())
    # logsigma takes no part in generation (no pixel noise): its gradient is zero.
    for p, g in zip(decoder, torch.autograd.grad(L_Q, decoder, allow_unused=True, materialize_grads=True)):
        tensors[f"grad.L_Q.{names[p]}"] = g

    # Coverage, with f in training mode (batch statistics).
    y, ld_logit = cqf_ref.logit_transform(x, cfg["alpha"])
    posterior = []
    with latent_noise(rng, record=posterior):
        L_C, terms = model.coverage_loss(y, ld_logit)
    tensors.update(by_stage(posterior, "posterior"))
    generator_side = model.gen_parameters()
    for p, g in zip(generator_side, torch.autograd.grad(L_C, generator_side)):
        tensors[f"grad.L_C.{names[p]}"] = g
    with torch.no_grad():
        v, ld_f = model.f(y)
        q = model.enc(v)
        with latent_noise(rng, replay=posterior):
            mean, kl_maps = model.dec(BATCH, q)
    for i, ((qm, qls), kl_map) in enumerate(zip(q, reversed(kl_maps))):
        assert torch.equal(kl_map, terms["kl_maps"][len(q) - 1 - i])
        tensors.update({f"encoder.mean.stage{i}": qm, f"encoder.logscale.stage{i}": qls, f"kl.stage{i}": kl_map})
    tensors.update({"f.v": v, "f.logdet": ld_f, "logit.logdet": ld_logit, "decoder.mean": mean,
                    "logpx": terms["logpx"], "kl": terms["kl"], "nll": terms["nll"], "L_C": L_C,
                    "generated": fake, "L_Q": L_Q})

    # The discriminator's step, by the twin's own Trainer (its update comes after our reading).
    real_in, fake_in = 2 * x - 1, 2 * fake.detach() - 1
    with torch.no_grad():
        tensors["discriminator.real_logits"] = model.disc(real_in)
        tensors["discriminator.fake_logits"] = model.disc(fake_in)
    with fixed_uniforms(a):
        stats = cqf_ref.Trainer(model).d_step(real_in, fake_in)
    for p in model.disc.parameters():
        g = p.grad.flatten()
        tensors[f"grad.D.{names[p]}"] = g[::-(-g.numel() // GRADIENT_SAMPLES)]
    tensors["D.adversarial"] = torch.tensor(stats["d_loss"])
    tensors["D.penalty"] = torch.tensor(stats["gp"])
    tensors["D.loss"] = torch.tensor(stats["d_loss"] + cfg["lambda_gp"] * stats["gp"])

    # L_C with free bits at the median per-channel KL (a multiple of 1/64, exact in float32).
    kl_means = torch.cat([k.sum((2, 3)).mean(0) for k in terms["kl_maps"]])
    free_bits = round(kl_means.median().item() * 64) / 64
    cfg["free_bits"] = free_bits
    with latent_noise(rng, replay=posterior):
        L_C_free_bits, _ = model.coverage_loss(y, ld_logit)
    cfg["free_bits"] = 0.0
    tensors["L_C_free_bits"] = L_C_free_bits
    for p, g in zip(generator_side, torch.autograd.grad(L_C_free_bits, generator_side)):
        tensors[f"grad.L_C_free_bits.{names[p]}"] = g

    # A residual discriminator with large_d, on the same real and generated images.
    large = cqf_ref.ResidualD(channels, large=True)
    with torch.no_grad():
        for i, (twin, p) in enumerate(large.named_parameters()):
            ours = our_name("disc." + twin)
            if p.numel() > GENERATED_ABOVE:
                tensors[f"large_d.generated.{ours}"] = generated_weights(p, LARGE_D_COUNTERS + i)
            else:
                p.copy_(p.float().double())
                tensors[f"large_d.param.{ours}"] = p.detach().clone()
        tensors["large_d.real_logits"] = large(real_in)
        tensors["large_d.fake_logits"] = large(fake_in)

    save_file({k: v.detach().float().contiguous() for k, v in tensors.items()}, FIXTURES / path,
              metadata={"writer": "Tests/make_model_fixtures.py", "seed": str(SEED), "step": str(STEP),
                        "channels": str(channels), "scales": str(scales), "eval_k": str(EVAL_K),
                        "free_bits": str(free_bits)})
    print(f"{path}: L_C {L_C.item():.4f}, L_Q {L_Q.item():.4f}, D loss {tensors['D.loss'].item():.4f} "
          f"(penalty {stats['gp']:.4f}), f log-det {ld_f.tolist()}, eval bpd {tensors['eval.bpd'].item():.4f} "
          f"bpd_iw {tensors['eval.bpd_iw'].item():.4f}, L_C with free bits {free_bits}: {L_C_free_bits.item():.4f}, "
          f"{(FIXTURES / path).stat().st_size} bytes")


if __name__ == "__main__":
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float64)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    fixture("cqf_3ch_1scale.safetensors", channels=3, scales=1, seed=301)
    fixture("cqf_1ch_2scales.safetensors", channels=1, scales=2, seed=302)

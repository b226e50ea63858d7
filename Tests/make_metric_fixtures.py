#!/usr/bin/env python3
"""Reference values for the sample-quality metrics (Tests/CQFTests/Metrics), written into
Tests/CQFTests/Fixtures/ as numpy's own npz files, which the tests read with our npz reader.

Run from the repository root with a Python that has pytorch-fid, numpy and scipy
(`pip install pytorch-fid`):

    python Tests/make_metric_fixtures.py

metrics.npz (np.savez, every array float64):
  real (300, 64), fake (250, 64)   seeded correlated Gaussian features, rounded to float32 (what
                                   the Swift side holds), stored exactly as float64
  mu_real, sigma_real, mu_fake, sigma_fake
                                   np.mean(axis=0) and np.cov(rowvar=False), as pytorch-fid's
                                   calculate_activation_statistics
  fid                              pytorch_fid.fid_score.calculate_frechet_distance
  low_real (300, 64), low_fake (250, 64), low_fid
                                   features of rank 8 (singular covariances); low_fid from the
                                   symmetric-eigenvalue form in numpy, low_fid_pytorch_fid from
                                   pytorch-fid (whose sqrtm of a singular product is less exact)
  kid_real_rows, kid_fake_rows (5, 100), kid_mmd (5)
                                   torch-fidelity's unbiased MMD^2, cubic kernel, gamma 1/d,
                                   coef0 1, over given subsets (indices stored as float64)
  kid_full                         the same over real[:250] and all of fake
  precision, recall                Kynkaenniemi et al. 2019 with k = 3 (NVlabs' rule: radius the
                                   k-th smallest distance in a row that includes the point itself)
  logits (250, 10), is_mean, is_std
                                   Salimans et al.'s Inception Score code over 10 splits
fid_stats.npz: mu_real and sigma_real saved as pytorch-fid's save_fid_stats saves them
(np.savez_compressed, keys mu and sigma).
lying_stats.npz: a mu.npy whose header claims shape (16384,) over 8 bytes of data, and a
sigma.npy whose header claims shape (2**62, 8): a reader must refuse both before allocating.

Deterministic: every value comes from one seeded numpy generator.
"""
import io
import pathlib
import zipfile

import numpy as np
from pytorch_fid.fid_score import calculate_frechet_distance

FIXTURES = pathlib.Path(__file__).resolve().parent / "CQFTests" / "Fixtures"
rng = np.random.default_rng(20260512)


def mixing(rank, dimension):
    """A random (rank, dimension) matrix that makes correlated features of that rank."""
    return rng.standard_normal((rank, dimension)) / np.sqrt(rank)


def features(count, mixing, shift, scale):
    """Gaussian features x = scale * z @ mixing + shift, as float32 values."""
    values = scale * rng.standard_normal((count, mixing.shape[0])) @ mixing + shift
    return values.astype(np.float32).astype(np.float64)


def statistics(act):
    return np.mean(act, axis=0), np.cov(act, rowvar=False)


def roots_above_round_off(eigenvalues):
    """sqrt of each eigenvalue, 0 for those below n eps max (numpy's matrix_rank tolerance)."""
    threshold = len(eigenvalues) * np.finfo(np.float64).eps * eigenvalues.max()
    return np.where(eigenvalues > threshold, np.sqrt(np.clip(eigenvalues, 0, None)), 0)


def frechet_by_eigenvalues(mu1, sigma1, mu2, sigma2):
    """tr sqrt(S1 S2) as the sum of sqrt of eig(S1^1/2 S2 S1^1/2), round-off taken as 0."""
    values, vectors = np.linalg.eigh(sigma1)
    root = (vectors * roots_above_round_off(values)) @ vectors.T
    inner = np.linalg.eigvalsh(root @ sigma2 @ root)
    diff = mu1 - mu2
    return diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * roots_above_round_off(inner).sum()


def mmd2_unbiased(x, y, degree=3, coef0=1.0):
    """torch-fidelity's kernel_mmd / mmd2 with mmd_est='unbiased'."""
    gamma = 1.0 / x.shape[1]
    k_xx = (x @ x.T * gamma + coef0) ** degree
    k_yy = (y @ y.T * gamma + coef0) ** degree
    k_xy = (x @ y.T * gamma + coef0) ** degree
    m = x.shape[0]
    kt_xx_sum = (k_xx.sum(axis=1) - np.diagonal(k_xx)).sum()
    kt_yy_sum = (k_yy.sum(axis=1) - np.diagonal(k_yy)).sum()
    return (kt_xx_sum + kt_yy_sum) / (m * (m - 1)) - 2 * k_xy.sum() / (m * m)


def squared_distances(a, b):
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)


def precision_recall(real, fake, k=3):
    """NVlabs' ManifoldEstimator: radius = k-th entry of the partitioned row (the point itself
    at distance 0 is entry 0), inside when the distance is <= the radius."""
    real_radii = np.partition(squared_distances(real, real), k, axis=1)[:, k]
    fake_radii = np.partition(squared_distances(fake, fake), k, axis=1)[:, k]
    real_fake = squared_distances(real, fake)
    precision = np.mean(np.any(real_fake <= real_radii[:, None], axis=0))
    recall = np.mean(np.any(real_fake <= fake_radii[None, :], axis=1))
    return precision, recall


def inception_score(logits, splits=10):
    """Salimans et al.'s code on softmax(logits)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    preds = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    scores = []
    for i in range(splits):
        part = preds[(i * preds.shape[0] // splits):((i + 1) * preds.shape[0] // splits), :]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    return np.mean(scores), np.std(scores)


def npy_with_header(shape, data):
    """A .npy member whose header says float64 `shape`, followed by `data` whatever its size."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buffer.getvalue() + data


def main():
    out = {}
    # The fake set shares the real set's mixing, a little shrunk, shifted and perturbed, so
    # that precision and recall are both well inside (0, 1).
    full = mixing(64, 64)
    out["real"] = features(300, full, shift=0.5, scale=1.0)
    out["fake"] = features(250, full + 0.4 * mixing(64, 64), shift=0.55, scale=0.95)
    out["mu_real"], out["sigma_real"] = statistics(out["real"])
    out["mu_fake"], out["sigma_fake"] = statistics(out["fake"])
    out["fid"] = np.float64(calculate_frechet_distance(out["mu_real"], out["sigma_real"], out["mu_fake"], out["sigma_fake"]))

    out["low_real"] = features(300, mixing(8, 64), shift=0.5, scale=1.0)
    out["low_fake"] = features(250, mixing(8, 64), shift=0.6, scale=1.0)
    low = statistics(out["low_real"]) + statistics(out["low_fake"])
    out["low_fid"] = np.float64(frechet_by_eigenvalues(*low))
    out["low_fid_pytorch_fid"] = np.float64(calculate_frechet_distance(*low))

    real_rows = np.stack([rng.choice(300, 100, replace=False) for _ in range(5)])
    fake_rows = np.stack([rng.choice(250, 100, replace=False) for _ in range(5)])
    out["kid_real_rows"], out["kid_fake_rows"] = real_rows.astype(np.float64), fake_rows.astype(np.float64)
    out["kid_mmd"] = np.array([mmd2_unbiased(out["real"][r], out["fake"][f]) for r, f in zip(real_rows, fake_rows)])
    out["kid_full"] = np.float64(mmd2_unbiased(out["real"][:250], out["fake"]))

    out["precision"], out["recall"] = (np.float64(v) for v in precision_recall(out["real"], out["fake"]))

    out["logits"] = (rng.standard_normal((250, 10)) * 3).astype(np.float32).astype(np.float64)
    out["is_mean"], out["is_std"] = (np.float64(v) for v in inception_score(out["logits"]))

    np.savez(FIXTURES / "metrics.npz", **out)
    np.savez_compressed(FIXTURES / "fid_stats.npz", mu=out["mu_real"], sigma=out["sigma_real"])
    with zipfile.ZipFile(FIXTURES / "lying_stats.npz", "w") as archive:
        archive.writestr("mu.npy", npy_with_header((16384,), np.zeros(1).tobytes()))
        archive.writestr("sigma.npy", npy_with_header((2 ** 62, 8), np.zeros(1).tobytes()))
    for key in ["fid", "low_fid", "low_fid_pytorch_fid", "kid_full", "precision", "recall", "is_mean", "is_std"]:
        print(f"{key} = {float(out[key]):.12g}")
    print("kid_mmd =", out["kid_mmd"])


if __name__ == "__main__":
    main()

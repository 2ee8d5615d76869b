"""The PyTorch residual k-means reference: recovers clusters, improves with depth, seeded."""

from __future__ import annotations

import numpy as np

from semantic_ids.torch_kmeans import TorchResidualKMeans


def test_first_level_recovers_separated_clusters() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(8, size=400)
    x = (rng.normal(size=(8, 6)) * 20)[truth] + rng.normal(size=(400, 6))
    codes = TorchResidualKMeans(1, 8, niter=10, seed=0).fit(x).encode(x)[:, 0]
    # a perfect clustering maps each true cluster to exactly one code and vice versa
    pairs = set(zip(truth.tolist(), codes.tolist()))
    assert len(pairs) == 8 and len({c for _, c in pairs}) == 8


def test_error_falls_with_depth_and_seed_reproduces(clustered: np.ndarray) -> None:
    errors = []
    for levels in (1, 2, 3):
        km = TorchResidualKMeans(levels, 16, niter=10, batch_size=300, seed=1).fit(clustered)
        errors.append(float(np.square(clustered - km.decode(km.encode(clustered))).sum()))
    assert errors[0] > errors[1] > errors[2]
    a = TorchResidualKMeans(2, 16, niter=5, seed=2).fit(clustered).encode(clustered)
    b = TorchResidualKMeans(2, 16, niter=5, seed=2).fit(clustered).encode(clustered)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.int64 and a.max() < 16

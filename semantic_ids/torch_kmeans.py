"""Residual k-means in plain PyTorch: the benchmark reference for the FAISS residual quantizer.

Same budget (``levels`` x ``n_codes``), greedy encoding (nearest centroid per level, no beam), k-means++
initialisation and a fixed number of Lloyd iterations; distances via one matmul per batch.
"""

from __future__ import annotations

import numpy as np
import torch


def _sq_distances(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Squared L2 distances ``(n, k)`` as ‖x‖² − 2 x·c + ‖c‖² (one matmul)."""
    return (x.square().sum(1, keepdim=True) - 2 * x @ centroids.T + centroids.square().sum(1)).clamp_min_(0)


def _sq_distances_to(x: torch.Tensor, point: torch.Tensor) -> torch.Tensor:
    """Squared L2 distances ``(n,)`` to one point."""
    return (x - point).square().sum(1)


class TorchResidualKMeans:
    """``levels`` residual k-means codebooks of ``n_codes`` centroids each, trained on float rows."""

    def __init__(self, levels: int = 3, n_codes: int = 256, *, niter: int = 20, batch_size: int = 16384, seed: int = 0):
        self.levels, self.n_codes, self.niter, self.batch_size, self.seed = levels, n_codes, niter, batch_size, seed
        self.codebooks: list[torch.Tensor] = []

    def _assign(self, x: torch.Tensor, centroids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest centroid and its squared distance, for each row, in batches."""
        labels = torch.empty(len(x), dtype=torch.int64)
        dists = torch.empty(len(x))
        for start in range(0, len(x), self.batch_size):
            d = _sq_distances(x[start : start + self.batch_size], centroids)
            dists[start : start + len(d)], labels[start : start + len(d)] = d.min(1)
        return labels, dists

    def _kmeans(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """k-means++ seeding, then ``niter`` Lloyd steps; an empty cluster takes the worst-fitted point."""
        first = int(torch.randint(len(x), (1,), generator=generator))
        centroids = [x[first]]
        closest = _sq_distances_to(x, x[first])
        for _ in range(1, self.n_codes):
            pick = int(torch.multinomial(closest + 1e-12, 1, generator=generator))
            centroids.append(x[pick])
            closest = torch.minimum(closest, _sq_distances_to(x, x[pick]))
        c = torch.stack(centroids)
        for _ in range(self.niter):
            labels, dists = self._assign(x, c)
            counts = torch.bincount(labels, minlength=self.n_codes)
            sums = torch.zeros_like(c).index_add_(0, labels, x)
            nonempty = counts > 0
            c[nonempty] = sums[nonempty] / counts[nonempty, None].to(x.dtype)
            empty = (~nonempty).nonzero().squeeze(1)
            if len(empty):
                c[empty] = x[dists.topk(len(empty)).indices]
        return c

    def fit(self, x: np.ndarray) -> TorchResidualKMeans:
        """Train level by level on the residuals left by the previous levels."""
        generator = torch.Generator().manual_seed(self.seed)
        residual = torch.as_tensor(np.asarray(x, dtype=np.float32)).clone()
        self.codebooks = []
        for _ in range(self.levels):
            c = self._kmeans(residual, generator)
            residual -= c[self._assign(residual, c)[0]]
            self.codebooks.append(c)
        return self

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Float rows -> int64 codes ``(n, levels)``, greedily level by level."""
        residual = torch.as_tensor(np.asarray(x, dtype=np.float32)).clone()
        codes = torch.empty(len(residual), self.levels, dtype=torch.int64)
        for level, c in enumerate(self.codebooks):
            codes[:, level] = self._assign(residual, c)[0]
            residual -= c[codes[:, level]]
        return codes.numpy()

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Int codes ``(n, levels)`` -> float32 sums of the levels' centroids."""
        codes_t = torch.as_tensor(np.asarray(codes, dtype=np.int64))
        return sum(c[codes_t[:, level]] for level, c in enumerate(self.codebooks)).numpy()

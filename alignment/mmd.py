"""Multi-kernel maximum mean discrepancy (MK-MMD) with Gaussian kernels, as PAD uses it to align content to IDs.

For samples S (n, d) and T (m, d): X = [S; T], D = squared pairwise distances, bandwidth base
σ² = mean of D over distinct pairs (detached), K = Σ_α exp(−D / (2 α σ²)) over multipliers α, and
MMD = mean_offdiag(K_SS) + mean_offdiag(K_TT) − 2 · mean(K_ST).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

DEFAULT_MULTIPLIERS: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0)


def squared_distances(x: torch.Tensor) -> torch.Tensor:
    """(n, d) -> (n, n) squared Euclidean distances, clamped at 0 and exactly 0 on the diagonal."""
    sq = x.pow(2).sum(dim=1)
    d = (sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)).clamp_min(0.0)
    return d.masked_fill(torch.eye(len(x), dtype=torch.bool, device=x.device), 0.0)


def multi_kernel(d: torch.Tensor, multipliers: Sequence[float] = DEFAULT_MULTIPLIERS, eps: float = 1e-8) -> torch.Tensor:
    """Sum of Gaussian kernels on squared distances ``d`` (n, n), bandwidths ``α · σ²`` with σ² = mean off-diagonal d."""
    n = d.shape[0]
    sigma2 = (d.detach().sum() / (n * n - n)).clamp_min(eps)
    return sum(torch.exp(-d / (2.0 * a * sigma2)) for a in multipliers)


def _mean_offdiag(k: torch.Tensor) -> torch.Tensor:
    n = k.shape[0]
    return (k.sum() - k.diagonal().sum()) / (n * n - n)


def mk_mmd(source: torch.Tensor, target: torch.Tensor,
           multipliers: Sequence[float] = DEFAULT_MULTIPLIERS) -> torch.Tensor:
    """MK-MMD between ``source`` (n, d) and ``target`` (m, d); needs n, m >= 2. Differentiable in both."""
    n, m = source.shape[0], target.shape[0]
    if n < 2 or m < 2:
        raise ValueError(f"mk_mmd needs at least 2 rows per sample, got {n} and {m}")
    if source.shape[1] != target.shape[1]:
        raise ValueError(f"mk_mmd: feature sizes differ ({source.shape[1]} vs {target.shape[1]})")
    k = multi_kernel(squared_distances(torch.cat([source, target])), multipliers)
    return _mean_offdiag(k[:n, :n]) + _mean_offdiag(k[n:, n:]) - 2.0 * k[:n, n:].mean()


def distinct_items(items: torch.Tensor, padding_idx: int = 0) -> torch.Tensor:
    """The distinct item indices of a batch (any shape), padding removed, sorted: the rows MMD is taken over."""
    unique = torch.unique(items)
    return unique[unique != padding_idx]

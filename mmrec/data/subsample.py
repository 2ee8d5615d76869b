"""The sparse setting (issue 18): keep a seeded share of each user's interactions before the splits are built.

A dense catalogue such as ml-100k (every user has >= 20 ratings) is made sparse the way a small product
catalogue is: each user keeps ``fraction`` of their interactions, chosen uniformly at random and kept in time
order, but never fewer than ``min_keep`` (a user with fewer keeps all), so the splits' per-user rules still apply.
The same positions are kept in every per-user array (items, ratings, timestamps), so the CTR split stays aligned.
"""

from __future__ import annotations

import numpy as np


def kept_positions(lengths: list[int], fraction: float, min_keep: int, seed: int) -> list[np.ndarray]:
    """Per user, the sorted positions kept: ``max(min_keep, round(fraction * n))`` of ``n`` (all when n is smaller)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"the kept share of each user's interactions must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    out = []
    for n in lengths:
        keep = min(n, max(min_keep, int(round(fraction * n))))
        out.append(np.sort(rng.choice(n, size=keep, replace=False)) if keep < n else np.arange(n))
    return out


def subsample_users(arrays: list[list[np.ndarray]], fraction: float, min_keep: int, seed: int
                    ) -> list[list[np.ndarray]]:
    """Apply :func:`kept_positions` (computed on the first list) to every list of per-user arrays alike."""
    keep = kept_positions([len(a) for a in arrays[0]], fraction, min_keep, seed)
    return [[a[k] for a, k in zip(per_user, keep)] for per_user in arrays]

"""Code statistics for semantic IDs and their learned embedding tables, as plain JSON-able dicts.

They say whether a codebook is healthy (codes used, entropy, few collisions, low reconstruction error), whether
the mixture identifies items, and whether learned code tables collapsed (singular spectrum, information abundance).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def level_utilisation(codes: np.ndarray, codes_per_level: int) -> list[float]:
    """Per level of ``codes`` ``(n, levels)``: the fraction of the ``codes_per_level`` codes that occur."""
    return [len(np.unique(codes[:, level])) / codes_per_level for level in range(codes.shape[1])]


def level_entropy(codes: np.ndarray) -> list[float]:
    """Per level of ``codes`` ``(n, levels)``: the Shannon entropy of the code distribution, in bits."""
    entropies = []
    for level in range(codes.shape[1]):
        p = np.unique(codes[:, level], return_counts=True)[1] / len(codes)
        entropies.append(float(-(p * np.log2(p)).sum()))
    return entropies


def _shared_mask(rows: np.ndarray) -> np.ndarray:
    """True for each row that equals at least one other row (rows are flattened per item)."""
    _, group, counts = np.unique(rows.reshape(len(rows), -1), axis=0, return_inverse=True, return_counts=True)
    return counts[group.reshape(-1)] > 1


def collision_rate(codes: np.ndarray) -> float:
    """Fraction of items whose full tuple ``codes[i]`` (``(n, levels)``) is shared with another item."""
    return float(_shared_mask(codes).mean())


def unique_rate(codes: np.ndarray) -> float:
    """Fraction of items whose whole tuple of tuples ``codes[i]`` (``(n, n_codebooks, levels)``) is unique."""
    return float(1.0 - _shared_mask(codes).mean())


def error_sums(x: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
    """``[Σ‖x − x̂‖², Σ‖x‖², number of coordinates]`` of one batch; add batches, then :func:`reconstruction_mse`."""
    x64 = np.asarray(x, dtype=np.float64)
    return np.array([np.square(x64 - np.asarray(x_hat, dtype=np.float64)).sum(), np.square(x64).sum(), x64.size])


def reconstruction_mse(sums: np.ndarray) -> dict[str, float]:
    """From :func:`error_sums`: ``mse`` per coordinate and ``relative`` = Σ‖x − x̂‖² / Σ‖x‖² (scale-free)."""
    err, norm, size = (float(v) for v in sums)
    return {"mse": err / size, "relative": err / norm if norm > 0 else 0.0}


def tuple_labels(codes: np.ndarray) -> np.ndarray:
    """One label per item for its full tuple ``codes[i]``: the partition of the items a codebook induces."""
    return np.unique(codes.reshape(len(codes), -1), axis=0, return_inverse=True)[1].reshape(-1)


def adjusted_rand_index(a: np.ndarray, b: np.ndarray) -> float:
    """Adjusted Rand index of two partitions (labels per item): 1 = identical up to relabelling, ~0 = unrelated."""
    def pairs(counts: np.ndarray) -> float:
        return float((counts * (counts - 1) / 2).sum())

    joint = pairs(np.unique(np.stack([a, b], axis=1), axis=0, return_counts=True)[1])
    row, col = pairs(np.unique(a, return_counts=True)[1]), pairs(np.unique(b, return_counts=True)[1])
    expected = row * col / (len(a) * (len(a) - 1) / 2)
    best = (row + col) / 2
    return 1.0 if best == expected else (joint - expected) / (best - expected)


def codebook_stats(codes: np.ndarray, codes_per_level: int) -> dict[str, Any]:
    """Utilisation and entropy per level, distinct full tuples and their collision rate, for one codebook."""
    return {
        "utilisation": level_utilisation(codes, codes_per_level),
        "entropy_bits": level_entropy(codes),
        "distinct_tuples": int(tuple_labels(codes).max(initial=-1) + 1),
        "collision_rate": collision_rate(codes),
    }


def codebook_agreement(codes: np.ndarray) -> dict[str, float]:
    """Adjusted Rand index between the codebooks' partitions of ``codes`` ``(n, n_codebooks, levels)``, over pairs.

    Near 1: the codebooks are relabellings of each other (no complementary information); ``first_level`` compares
    the coarse partitions, ``full_tuple`` the finest. NaN-free: one codebook gives no pairs and empty dicts.
    """
    n_codebooks = codes.shape[1]
    out: dict[str, float] = {}
    for name, labels in (("first_level", [codes[:, c, 0] for c in range(n_codebooks)]),
                         ("full_tuple", [tuple_labels(codes[:, c]) for c in range(n_codebooks)])):
        scores = [adjusted_rand_index(labels[i], labels[j]) for i in range(n_codebooks) for j in range(i)]
        if scores:
            out[f"{name}_mean"], out[f"{name}_max"] = float(np.mean(scores)), float(np.max(scores))
    return out


def mixture_stats(
    codes: np.ndarray, codes_per_level: int, reconstruction: list[dict[str, float]] | None = None
) -> dict[str, Any]:
    """Per-codebook :func:`codebook_stats` (plus ``reconstruction`` if given), the mixture's unique-item rate (and
    that of the first 1, 2, ... codebooks: what each added codebook identifies) and the codebooks' agreement.

    ``codes`` is ``(n, n_codebooks, levels)`` without a collision-suffix level (a suffix makes every tuple unique).
    """
    codebooks = [codebook_stats(codes[:, c], codes_per_level) for c in range(codes.shape[1])]
    for stats, rec in zip(codebooks, reconstruction or []):
        stats["reconstruction"] = rec
    return {"n_items": len(codes), "codebooks": codebooks, "unique_rate": unique_rate(codes),
            "unique_rate_first_n": [unique_rate(codes[:, : c + 1]) for c in range(codes.shape[1])],
            "agreement": codebook_agreement(codes)}


def singular_spectrum(weight: Any) -> list[float]:
    """Singular values (descending) of an embedding table ``(rows, dim)``: a numpy array or a torch tensor."""
    if hasattr(weight, "detach"):
        weight = weight.detach().cpu().numpy()
    return np.linalg.svd(np.asarray(weight, dtype=np.float64), compute_uv=False).tolist()


def _abundance(sigma: list[float]) -> float:
    return sum(sigma) / sigma[0] if sigma and sigma[0] > 0 else 0.0


def information_abundance(weight: Any) -> float:
    """Σσ / max σ of an embedding table: near 1 when it collapsed onto one direction, up to its rank otherwise."""
    return _abundance(singular_spectrum(weight))


def embedding_stats(tables: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per named embedding table: its singular spectrum and information abundance."""
    out = {}
    for name, weight in tables.items():
        sigma = singular_spectrum(weight)
        out[name] = {"singular_values": sigma, "information_abundance": _abundance(sigma)}
    return out

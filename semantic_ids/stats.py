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


def codebook_stats(codes: np.ndarray, codes_per_level: int) -> dict[str, Any]:
    """Utilisation and entropy per level, and the collision rate of full tuples, for one codebook ``(n, levels)``."""
    return {
        "utilisation": level_utilisation(codes, codes_per_level),
        "entropy_bits": level_entropy(codes),
        "collision_rate": collision_rate(codes),
    }


def mixture_stats(
    codes: np.ndarray, codes_per_level: int, reconstruction: list[dict[str, float]] | None = None
) -> dict[str, Any]:
    """Per-codebook :func:`codebook_stats` (plus ``reconstruction`` if given) and the mixture's unique-item rate.

    ``codes`` is ``(n, n_codebooks, levels)`` without a collision-suffix level (a suffix makes every tuple unique).
    """
    codebooks = [codebook_stats(codes[:, c], codes_per_level) for c in range(codes.shape[1])]
    for stats, rec in zip(codebooks, reconstruction or []):
        stats["reconstruction"] = rec
    return {"n_items": len(codes), "codebooks": codebooks, "unique_rate": unique_rate(codes)}


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

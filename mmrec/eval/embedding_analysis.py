"""Embedding-collapse analysis of any embedding table: spectra, information abundance, effective rank, learned
field-pair correlation against the fields' mutual information, and gradient-cosine entanglement across tasks.

Why: a table whose rows span only a few directions ("dimensional collapse": the Tencent ads paper, the
Multi-Embedding paper) wastes its dimension; the singular spectrum shows it as a fast decay, information
abundance IA = Σσ_k / σ_1 and effective rank exp(H(σ / Σσ)) sum it up in one number (1 = one direction, up to
min(rows, dim) = isotropic). Everything here takes tensors or arrays (no model code, except that
:func:`find_embedding_tables` walks any ``nn.Module``); results are JSON-ready; plots return PNG bytes and, given a
path, also write it atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import nn

CHUNK_ROWS = 1 << 20  # rows per step of the Gram-matrix sum in singular_values
GENERIC_SEGMENTS = {"weight", "embedding", "embeddings", "emb", "table", "tables"}


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)


# ------------------------------------------------------------------------------------------------ spectra

def singular_values(weight, counts=None) -> np.ndarray:
    """Singular values (descending, ``dim`` of them) of a table ``(rows, dim)``.

    With ``counts`` (rows,) every row is weighted by how often it occurs (row r scaled by √(c_r / Σc)): the result
    is then the spectrum of the matrix of a batch's looked-up rows (each occurrence one row), divided by √B, without
    building it. Rows with count 0 drop out. Without counts every row counts once (the table itself).
    Computed as √eig(EᵀE) in float64, CHUNK_ROWS rows at a time: memory O(dim²) beyond the table, whatever its size
    (σ_k / σ_1 is exact to ~1e-8, below the plots' floor).
    """
    table = weight.detach() if isinstance(weight, torch.Tensor) else torch.as_tensor(np.asarray(weight))
    if table.ndim != 2:
        raise ValueError(f"an embedding table is (rows, dim); got shape {tuple(table.shape)}")
    scale = None
    if counts is not None:
        c = torch.as_tensor(_numpy(counts))
        if c.shape != (len(table),):
            raise ValueError(f"counts has shape {tuple(c.shape)}, the table has {len(table)} rows")
        if (c < 0).any() or c.sum() <= 0:
            raise ValueError("counts must be non-negative with a positive total")
        scale = (c / c.sum()).sqrt()
    gram = torch.zeros(table.shape[1], table.shape[1], dtype=torch.float64)
    for start in range(0, len(table), CHUNK_ROWS):
        rows = table[start:start + CHUNK_ROWS].to("cpu", torch.float64)
        if scale is not None:
            rows = rows * scale[start:start + CHUNK_ROWS, None]
        gram += rows.T @ rows
    return torch.linalg.eigvalsh(gram).clamp_min(0.0).sqrt().flip(0).numpy()


def information_abundance(sigma) -> float:
    """IA = Σσ_k / max σ_k: 1 when all rows lie on one line, d for an isotropic d-dim table; 0 when empty."""
    sigma = np.asarray(sigma, dtype=np.float64)
    return float(sigma.sum() / sigma.max()) if sigma.size and sigma.max() > 0 else 0.0


def normalised_spectrum(sigma) -> np.ndarray:
    """σ_k / σ_1 (all zeros for an all-zero table)."""
    sigma = np.asarray(sigma, dtype=np.float64)
    return sigma / sigma[0] if sigma.size and sigma[0] > 0 else np.zeros_like(sigma)


def effective_rank(sigma) -> float:
    """exp(H(p)) with p_k = σ_k / Σσ (Roy & Vetterli): the number of equally strong directions it is worth."""
    sigma = np.asarray(sigma, dtype=np.float64)
    if not sigma.size or sigma.sum() <= 0:
        return 0.0
    p = sigma[sigma > 0] / sigma.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def lookup_counts(indices, n_rows: int, padding_idx: int | None = 0) -> np.ndarray:
    """How often each row of an ``n_rows`` table is looked up by ``indices`` (any shape); ``padding_idx`` ignored."""
    flat = np.asarray(indices.cpu() if isinstance(indices, torch.Tensor) else indices).astype(np.int64).ravel()
    if flat.size and (flat.min() < 0 or flat.max() >= n_rows):
        raise ValueError(f"indices fall outside the table's {n_rows} rows (min {flat.min()}, max {flat.max()})")
    counts = np.bincount(flat, minlength=n_rows).astype(np.float64)
    if padding_idx is not None:
        counts[padding_idx] = 0.0
    return counts


def table_stats(weight, counts=None) -> dict:
    """JSON-ready: rows used (non-zero, and looked up when ``counts`` is given), dim, the rank bound
    min(rows used, dim), IA, effective rank and σ_k / σ_1."""
    sigma = singular_values(weight, counts)
    used = np.abs(_numpy(weight)).sum(1) > 0  # a padding row of zeros adds nothing
    if counts is not None:
        used &= _numpy(counts) > 0
    rows = int(used.sum())
    return {"rows": rows, "dim": int(weight.shape[1]), "max_rank": min(rows, int(weight.shape[1])),
            "information_abundance": information_abundance(sigma), "effective_rank": effective_rank(sigma),
            "spectrum": normalised_spectrum(sigma).tolist()}


def analyse_tables(tables: Mapping[str, torch.Tensor], indices: Mapping[str, torch.Tensor] | None = None,
                   min_dim: int = 2, padding_idx: int | None = 0) -> dict:
    """Per table: ``{"table": table_stats over its rows, "batch": table_stats over the looked-up rows}``.

    ``indices[name]`` (any shape) are a batch's lookups into table ``name``; "batch" weights each row by how often
    it is looked up, so rarely used rows matter little. Tables narrower than ``min_dim`` are left out (a 1-d table's
    IA is 1 by definition).
    """
    out = {}
    for name, weight in tables.items():
        if weight.ndim != 2 or weight.shape[1] < min_dim:
            continue
        out[name] = {"table": table_stats(weight)}
        if indices is not None and name in indices:
            counts = lookup_counts(indices[name], weight.shape[0], padding_idx)
            if counts.sum() > 0:
                out[name]["batch"] = table_stats(weight, counts)
    return out


# ------------------------------------------------------------------------------------------------ fields

def entropy(x) -> float:
    """Plug-in entropy (nats) of a categorical sample."""
    _, counts = np.unique(np.asarray(x), return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def mutual_information(x, y) -> float:
    """Plug-in mutual information (nats) of two categorical samples of equal length: H(X) + H(Y) − H(X, Y).

    Biased upwards by about (|X| − 1)(|Y| − 1) / 2n for independent fields of n samples.
    """
    x, y = np.asarray(x).ravel(), np.asarray(y).ravel()
    if len(x) != len(y) or not len(x):
        raise ValueError(f"mutual information needs two samples of equal, non-zero length; got {len(x)} and {len(y)}")
    _, xi = np.unique(x, return_inverse=True)
    _, yi = np.unique(y, return_inverse=True)
    joint = xi.astype(np.int64) * (int(yi.max()) + 1) + yi  # one integer per (x, y) pair: a 1-d unique is fast
    return max(entropy(x) + entropy(y) - entropy(joint), 0.0)


def shuffled_mutual_information(x, y, shuffles: int = 3, seed: int = 0) -> float:
    """Mean plug-in MI of ``x`` against seeded permutations of ``y``: what the estimator reports for independent
    fields of these marginals and this sample size (its bias; large when the joint support nears the sample size,
    e.g. user ID x item ID)."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y).ravel()
    return float(np.mean([mutual_information(x, rng.permutation(y)) for _ in range(shuffles)]))


def field_mutual_information(values: Mapping[str, np.ndarray], shuffles: int = 3, seed: int = 0) -> dict:
    """``{"fields", "matrix", "adjusted"}`` over every field pair of a batch (values[name] (B,) categorical codes).

    ``matrix``: plug-in MI in nats (the diagonal is each field's entropy); ``adjusted``: the same less
    :func:`shuffled_mutual_information` (the plug-in bias), so that ≈ 0 means independent at any cardinality
    (``shuffles`` = 0 leaves it out).
    """
    names = list(values)
    arrays = [values[n].cpu().numpy() if isinstance(values[n], torch.Tensor) else np.asarray(values[n])
              for n in names]
    k = len(names)
    plain, adjusted = np.zeros((k, k)), np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):  # symmetric: each pair once
            plain[i, j] = plain[j, i] = mutual_information(arrays[i], arrays[j])
            if shuffles:
                bias = shuffled_mutual_information(arrays[i], arrays[j], shuffles, seed)
                adjusted[i, j] = adjusted[j, i] = plain[i, j] - bias
    out = {"fields": names, "matrix": plain.tolist()}
    if shuffles:
        out["adjusted"] = adjusted.tolist()
    return out


def field_correlation(vectors: Mapping[str, torch.Tensor]) -> dict:
    """``{"fields", "matrix"}``: learned correlation of every field pair = the mean over a batch's events of
    |cos(e_i, e_j)|, e_i (d,) the vector field i looked up for the event (rows where either is zero skipped).

    vectors[name] is (B, d), the same d for every field. 1 = the two fields' vectors are parallel in every event;
    two independent random directions give √(2 / (π d)) on average (the chance level, in ``"chance"``). None
    where a pair has no event with both vectors non-zero.
    """
    names = list(vectors)
    mats = [_numpy(vectors[n]) for n in names]
    shapes = {n: m.shape for n, m in zip(names, mats)}
    if len({s for s in shapes.values()}) > 1 or any(len(s) != 2 for s in shapes.values()):
        raise ValueError(f"field vectors must all be (B, d) of one shape; got {shapes}")
    norms = [np.linalg.norm(m, axis=1) for m in mats]
    matrix = []
    for a, na in zip(mats, norms):
        row = []
        for b, nb in zip(mats, norms):
            ok = (na > 0) & (nb > 0)
            cos = np.abs((a[ok] * b[ok]).sum(1)) / (na[ok] * nb[ok])
            row.append(float(cos.mean()) if ok.any() else None)
        matrix.append(row)
    dim = mats[0].shape[1] if mats else 1
    return {"fields": names, "matrix": matrix, "chance": float(np.sqrt(2 / (np.pi * dim)))}


# ------------------------------------------------------------------------------------------------ entanglement

def task_gradients(table: torch.Tensor, losses: Mapping[str, Callable[[], torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The gradient each task's loss closure sends to the shared ``table`` (a zero tensor where it sends none).

    The closures compute their loss from scratch (forward included), so each gradient is the task's alone;
    ``table.grad`` is left untouched.
    """
    out = {}
    for name, loss in losses.items():
        (grad,) = torch.autograd.grad(loss(), table, allow_unused=True)
        out[name] = torch.zeros_like(table) if grad is None else grad.detach()
    return out


def gradient_cosine(grads: Mapping[str, torch.Tensor]) -> dict:
    """``{"tasks", "matrix"}``: cosine between every pair of (flattened) gradients; None where one is zero.

    +1 = the tasks pull the table the same way, 0 = they touch unrelated rows or directions, < 0 = they fight.
    """
    names = list(grads)
    flat = torch.stack([grads[n].detach().double().flatten() for n in names])
    norms = flat.norm(dim=1)
    cos = (flat @ flat.T) / (norms[:, None] * norms[None, :])
    zero = (norms == 0).tolist()
    matrix = [[None if zero[i] or zero[j] else float(cos[i, j]) for j in range(len(names))] for i in range(len(names))]
    return {"tasks": names, "matrix": matrix}


def entanglement(table: torch.Tensor, losses: Mapping[str, Callable[[], torch.Tensor]]) -> dict:
    """Gradient-cosine matrix over tasks / domains for one shared table (:func:`task_gradients` then cosine)."""
    return gradient_cosine(task_gradients(table, losses))


# ------------------------------------------------------------------------------------------------ models

def _readable(paths: list[str]) -> dict[str, str]:
    """Shortest unique path suffix per module path, starting at a non-numeric segment, generic words dropped."""
    parts = {p: [s for s in p.split(".") if s not in GENERIC_SEGMENTS] or p.split(".") for p in paths}
    out = {}
    for path, segs in parts.items():
        for k in range(1, len(segs) + 1):
            name = ".".join(segs[-k:])
            clash = sum(".".join(o[-k:]) == name for o in parts.values()) > 1
            if not clash and not segs[-k].isdigit():
                break
        out[path] = name
    return out


def find_embedding_tables(model: nn.Module, rename: Mapping[str, str] | None = None) -> dict[str, torch.Tensor]:
    """Every ``nn.Embedding`` / ``nn.EmbeddingBag`` weight of ``model`` (a table shared by several modules once).

    Keys: ``rename[module path]`` where given, else the shortest readable unique suffix of the module path
    (``features.user_fields.0`` → ``user_fields.0``, ``item_repr.weight`` → ``item_repr``).
    """
    found: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for path, module in model.named_modules():
        if isinstance(module, (nn.Embedding, nn.EmbeddingBag)) and id(module.weight) not in seen:
            seen.add(id(module.weight))
            found[path or "table"] = module.weight  # "" when the model is itself one table
    names = _readable(list(found))
    return {(rename or {}).get(path, names[path]): weight for path, weight in found.items()}


# ------------------------------------------------------------------------------------------------ plots

"""Checks on item matrices (content embeddings, item representations) before a model is built on them.

A NaN in one item's embedding silently turns every score that touches it into NaN, and a matrix of the wrong
shape scores the wrong items; both stop here with a message naming the matrix and the offending rows.
"""

from __future__ import annotations

import torch


def check_item_matrix(matrix: torch.Tensor, what: str, n_items: int | None = None, dim: int | None = None) -> None:
    """``matrix`` must be (n_items + 1, dim) (row 0 = padding) and finite; otherwise a ValueError naming rows."""
    if matrix.dim() != 2:
        raise ValueError(f"{what}: expected an (n_items + 1, dim) matrix, got shape {list(matrix.shape)}")
    if n_items is not None and matrix.shape[0] != n_items + 1:
        raise ValueError(f"{what}: {matrix.shape[0]} rows, expected {n_items + 1} (padding row 0 + items 1..{n_items})")
    if dim is not None and matrix.shape[1] != dim:
        raise ValueError(f"{what}: {matrix.shape[1]}-dimensional rows, expected {dim}")
    if matrix.is_floating_point():
        if matrix.is_sparse:  # COO (e.g. TF-IDF): only stored values can be non-finite
            matrix = matrix.coalesce()
            bad = matrix.indices()[0][~torch.isfinite(matrix.values())].unique()
        else:
            bad = (~torch.isfinite(matrix)).any(dim=1).nonzero().flatten()
        if len(bad):
            raise ValueError(f"{what}: {len(bad)} row(s) hold NaN or infinite values, e.g. item index "
                             f"{', '.join(map(str, bad[:5].tolist()))}")

"""The item-representation seam: every model gets item vectors from one of these.

Item indices are 1..N with 0 reserved for padding; a table therefore has N + 1 rows and row 0 is zero.
Today an item is its ID embedding; PAD's aligned content, Mixture-of-Codes fusion and frozen content
projections plug in here without the sequence encoders or scoring code changing.
"""

from __future__ import annotations

import torch
from torch import nn


class ItemRepresentation(nn.Module):
    """Maps item indices (any shape, 0 = padding) to ``dim``-dimensional vectors."""

    dim: int
    n_items: int  # N; valid indices are 1..N

    def forward(self, items: torch.Tensor) -> torch.Tensor:  # (...,) -> (..., dim)
        raise NotImplementedError

    def all_items(self) -> torch.Tensor:
        """Vectors for indices 0..N (row 0 = padding), used for full-ranking scores."""
        return self(torch.arange(self.n_items + 1, device=self.device))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


class IDEmbedding(ItemRepresentation):
    """A learned vector per item ID (the collaborative baseline)."""

    def __init__(self, n_items: int, dim: int, init_std: float = 0.02):
        super().__init__()
        self.n_items, self.dim = n_items, dim
        self.weight = nn.Embedding(n_items + 1, dim, padding_idx=0)
        nn.init.normal_(self.weight.weight, std=init_std)
        with torch.no_grad():
            self.weight.weight[0].zero_()

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        return self.weight(items)

    def all_items(self) -> torch.Tensor:
        return self.weight.weight

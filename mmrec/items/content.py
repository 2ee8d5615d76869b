"""Item representations of PAD's three experts, each aware of which items are *cold* (no trained ID row).

``cold`` is a non-persistent (N+1,) bool buffer the owning model sets: the items never seen in training,
plus, while training, items dropped on purpose so the cold path learns (see :mod:`mmrec.items.cold`).
``hidden`` (same shape) marks items that are not in the catalogue yet: while training, the never-seen items
map to zero vectors, so they are never learned as "always negative" and only reach scores at evaluation.
- ``ColdIDItems``: the ID table; a cold item's row is zero (its ID vector carries nothing).
- ``AlignedContentItems``: PAD's aligned embedding GELU(W[e'; P(t)]); a cold item uses P(t) in place of e'.
- ``ProjectedContentItems``: P(t) only, the text/content expert.
"""

from __future__ import annotations

import torch
from torch import nn

from alignment.align import AlignedItems, ContentItems, ProjectorConfig
from mmrec.items.base import ItemRepresentation


def _copy(target: torch.Tensor, value: torch.Tensor, what: str) -> None:
    if target.shape != value.shape:
        raise ValueError(f"{what} is {list(value.shape)}, the item side holds {list(target.shape)}")
    with torch.no_grad():
        target.copy_(value)


class _ColdAware(ItemRepresentation):
    def _init_cold(self, n_items: int) -> None:
        self.register_buffer("cold", torch.zeros(n_items + 1, dtype=torch.bool), persistent=False)
        self.register_buffer("hidden", torch.zeros(n_items + 1, dtype=torch.bool), persistent=False)

    def vectors(self, items: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        return self.vectors(items) * (~self.hidden[items]).unsqueeze(-1)

    def all_items(self) -> torch.Tensor:
        return self(torch.arange(self.n_items + 1, device=self.cold.device))


class ColdIDItems(_ColdAware):
    """A learned vector per item ID, initialised from ``table`` (copied); cold items map to zeros."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.n_items, self.dim = table.shape[0] - 1, table.shape[1]
        self.weight = nn.Embedding.from_pretrained(table.detach().clone().float(), freeze=False, padding_idx=0)
        self._init_cold(self.n_items)

    def vectors(self, items: torch.Tensor) -> torch.Tensor:
        return self.weight(items) * (~self.cold[items]).unsqueeze(-1)

    def load_table(self, table: torch.Tensor) -> None:
        """Copy a pre-trained ID table (N + 1, dim) in."""
        _copy(self.weight.weight, table, "ID table")


class AlignedContentItems(_ColdAware):
    """PAD's aligned item embedding over an ID-table copy and frozen content (``alignment.AlignedItems``)."""

    def __init__(self, id_table: torch.Tensor, content: torch.Tensor, projector: ProjectorConfig):
        super().__init__()
        self.aligned = AlignedItems(id_table, content, projector)
        self.n_items, self.dim = self.aligned.n_items, self.aligned.dim
        self._init_cold(self.n_items)

    def vectors(self, items: torch.Tensor) -> torch.Tensor:
        return self.aligned(items, self.cold)

    def load_tables(self, id_table: torch.Tensor, content: torch.Tensor) -> None:
        """Copy the anchor's ID table (N + 1, dim) into e' and the frozen content (N + 1, d_c) in."""
        _copy(self.aligned.ids.weight, id_table, "ID table")
        _copy(self.aligned.content.content, content, "content")


class ProjectedContentItems(_ColdAware):
    """Items as P(t_i), a projector over frozen content; needs no ID row, so cold items are served as is."""

    def __init__(self, content: torch.Tensor, projector: ProjectorConfig):
        super().__init__()
        self.content = ContentItems(content, projector)
        self.n_items, self.dim = self.content.n_items, self.content.dim
        self._init_cold(self.n_items)

    def vectors(self, items: torch.Tensor) -> torch.Tensor:
        return self.content(items)

    def load_content(self, content: torch.Tensor) -> None:
        """Copy the frozen content table (N + 1, d_c) in."""
        _copy(self.content.content, content, "content")

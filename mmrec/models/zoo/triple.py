"""The triple-expert item side (:mod:`mmrec.items.triple`) on the feature layer: the item field's vocabulary as
its item indices, the frozen vectors of one embedding field as its content, the training events as its counts.

Item indices are the item field's local indices (0 = padding, 1 = out-of-vocabulary, 2.. = the vocabulary), so
history sub-fields that borrow the item vocabulary read it directly. Out-of-vocabulary (index 1) counts as never
seen: no ID weight, the gate's never-seen bin. A target the vocabulary never saw still has its own frozen vector
(an embedding field is keyed by the item ID, not by the vocabulary), so :meth:`FieldTripleItems.forward` takes the
target's content rows explicitly and a never-seen target is scored by what it is, not by the shared OOV row.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mmrec.features.feature_map import FeatureMap
from mmrec.items.triple import TripleExpertItems


def item_counts(feature_map: FeatureMap, train: dict[str, torch.Tensor], item_field: str = "item") -> torch.Tensor:
    """(rows of ``item_field``,) training events per local item index of the encoded ``train`` split; padding and
    out-of-vocabulary stay 0 (never seen)."""
    entry = feature_map.entry(item_field)
    if entry.kind != "categorical":
        raise ValueError(f"item_counts: '{item_field}' is a {entry.kind} field, not a categorical one")
    if item_field not in train:
        raise ValueError(f"item_counts: the encoded split has no '{item_field}' tensor")
    counts = torch.bincount(train[item_field].long().flatten(), minlength=entry.size)[:entry.size].clone()
    counts[:2] = 0
    return counts


class FieldTripleItems(TripleExpertItems):
    """:class:`TripleExpertItems` whose content expert may read given frozen vectors instead of its own table.

    ``content``: (vocabulary rows, D) the embedding field's vectors per item index (row 0 of the field = zeros
    where an item has none); without ``vectors``, ``forward`` is the parent's.
    """

    def forward(self, items: torch.Tensor, vectors: torch.Tensor | None = None) -> torch.Tensor:
        if vectors is None:
            return super().forward(items)
        content = self.content_expert.projector(F.normalize(vectors.float(), dim=-1))
        vectors_k = torch.stack([self.id_expert(items), content], dim=-1)  # (..., d, 2)
        mixed = (vectors_k * self.weights(items).unsqueeze(-2)).sum(-1)
        return mixed * (items != 0).unsqueeze(-1).to(mixed.dtype)

"""DIN + mm on the typed feature layer: DIN (:mod:`mmrec.models.zoo.din`) whose target and behaviour vectors also
carry the item's frozen content vectors (text / image / LLM embedding fields, L2-normalised and projected, zero
where an item has none), so target attention can match a candidate to the history by what the items are.

This is METHODS.md §3's baseline for Diff-MSIN ("DIN with the same ID features + the same multimodal embeddings
concatenated"). With ``modalities: []`` it is DIN itself; with ``item_side: triple`` the item-ID part of target
and behaviours is the triple-expert mix (``zoo_din_te`` / ``zoo_din_mm_te``, :mod:`mmrec.models.zoo.item_content`).
"""

from __future__ import annotations

import dataclasses

import torch

from mmrec.models.zoo.base import ZooModel, mlp
from mmrec.models.zoo.din import DINConfig, TargetAttention
from mmrec.models.zoo.history import HistoryReader
from mmrec.models.zoo.item_content import ItemContent, ItemContentConfig


@dataclasses.dataclass
class DINMMConfig(DINConfig, ItemContentConfig):
    pass


class DINMM(ZooModel):
    model_type = "zoo_din_mm"
    config_class = DINMMConfig

    def __init__(self, config: DINMMConfig, feature_map, pretrained=None, item_counts: torch.Tensor | None = None):
        super().__init__(config, feature_map, pretrained)
        self.history = HistoryReader(self.features, config)
        self.items = ItemContent(self.features, self.history, config, item_counts)
        if self.items.triple is not None:
            self.register_buffer("item_counts", self.items.triple.item_counts.clone())  # Hub hands it back on load
        width = self.history.width + len(self.items.modalities) * config.embed_dim
        self.attention = TargetAttention(width, config.attention_units, config.attention_softmax)
        self.tower = mlp(self.features.num_fields * config.embed_dim + width, config)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = self.features.pack(batch)
        emb = self.features(batch)
        keys, mask = self.history.behaviours(emb)
        flat, target, keys = self.items.swap(emb, self.history.target(emb), keys, *self.items.ids(emb, batch))
        t_content, _, h_content, _ = self.items.content(batch)
        query = torch.cat([target, t_content.flatten(1)], -1)
        interest = self.attention(query, torch.cat([keys, h_content.flatten(2)], -1), mask)
        return self.tower(torch.cat([flat.flatten(1), interest], 1)).squeeze(-1)

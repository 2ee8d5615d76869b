"""Popularity: every user gets the items ranked by training-interaction count (the floor every report carries)."""

from __future__ import annotations

import dataclasses

import torch

from mmrec.items.base import ItemRepresentation
from mmrec.models.base import ModelData, Recommender


@dataclasses.dataclass
class PopularityConfig:
    """No hyper-parameters: the score of an item is its training count."""


class Popularity(Recommender):
    model_type = "popularity"
    config_class = PopularityConfig
    max_len = 1  # the history is not read

    def __init__(self, counts: torch.Tensor):
        super().__init__()
        self.n_items = len(counts) - 1
        self.register_buffer("counts", counts.float())

    def score(self, histories: torch.Tensor) -> torch.Tensor:
        return self.counts.unsqueeze(0).expand(histories.shape[0], -1)

    @classmethod
    def build(cls, config: PopularityConfig, data: ModelData,
              item_repr: ItemRepresentation | None = None) -> "Popularity":
        return cls(torch.from_numpy(data.item_train_counts()))

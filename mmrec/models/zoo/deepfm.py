"""DeepFM (Guo et al. 2017): FM (first order + pairwise) and an MLP on the same field embeddings, logits summed."""

from __future__ import annotations

import dataclasses

import torch

from mmrec.models.zoo.base import MLPConfig, ZooModel, mlp
from mmrec.models.zoo.fm import pairwise_interaction


@dataclasses.dataclass
class DeepFMConfig(MLPConfig):
    pass


class DeepFM(ZooModel):
    model_type = "zoo_deepfm"
    config_class = DeepFMConfig
    first_order = True

    def __init__(self, config: DeepFMConfig, feature_map, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        self.tower = mlp(self.features.num_fields * config.embed_dim, config)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = self.features.pack(batch)
        emb = self.features(batch).flat
        fm = self.features.first_order(batch) + pairwise_interaction(emb)
        return fm + self.tower(emb.flatten(1)).squeeze(-1)

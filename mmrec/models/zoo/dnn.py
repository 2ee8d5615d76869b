"""DNN (YouTube-DNN style): the flattened field embeddings through an MLP tower."""

from __future__ import annotations

import dataclasses

import torch

from mmrec.models.zoo.base import MLPConfig, ZooModel, mlp


@dataclasses.dataclass
class DNNConfig(MLPConfig):
    pass


class DNN(ZooModel):
    model_type = "zoo_dnn"
    config_class = DNNConfig

    def __init__(self, config: DNNConfig, feature_map, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        self.tower = mlp(self.features.num_fields * config.embed_dim, config)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.tower(self.features(batch).flat.flatten(1)).squeeze(-1)

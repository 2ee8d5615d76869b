"""Shared-bottom (Caruana 1997, the multi-domain baseline of ZOO.md §4): one MLP over the flattened field
embeddings shared by every domain, then the sample's domain tower (one logit per task)."""

from __future__ import annotations

import dataclasses

import torch

from mmrec.models.zoo.base import mlp, mlp_width
from mmrec.models.zoo.multidomain.base import MultiDomainConfig, MultiDomainModel, ZooOutputs


@dataclasses.dataclass
class SharedBottomConfig(MultiDomainConfig):
    pass


class SharedBottom(MultiDomainModel):
    model_type = "zoo_shared_bottom"
    config_class = SharedBottomConfig

    def __init__(self, config: SharedBottomConfig, feature_map, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        dim = self.features.num_fields * config.embed_dim
        self.bottom = mlp(dim, config, output_dim=None)
        self.towers = self.make_towers(mlp_width(dim, config))

    def outputs(self, batch: dict[str, torch.Tensor]) -> ZooOutputs:
        h = self.bottom(self.features(batch).flat.flatten(1))
        return ZooOutputs(self.route(self.domains(batch), lambda d, rows: h[rows]))

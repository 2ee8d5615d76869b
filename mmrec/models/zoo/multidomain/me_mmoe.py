"""ME-MMoE (the Multi-Embedding paper's multi-embedding MMoE, ZOO.md §4 baseline of Crocodile): M embedding sets
of the feature layer, expert m reads set m only, a softmax gate per domain over the M experts, domain towers.

Why: one shared table collapses to few directions; M sets let each expert learn its own interaction space.
Assumed where the spec is silent: one expert per set, and the gates read set 0's embeddings.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from mmrec.features.layer import FeatureLayer
from mmrec.models.zoo.base import mlp, mlp_width
from mmrec.models.zoo.multidomain.base import MultiDomainConfig, MultiDomainModel, ZooOutputs
from mmrec.models.zoo.multidomain.experts import domain_gates, mix


@dataclasses.dataclass
class MEMMoEConfig(MultiDomainConfig):
    num_embeddings: int = 2  # M: embedding sets = experts


class MEMMoE(MultiDomainModel):
    model_type = "zoo_me_mmoe"
    config_class = MEMMoEConfig

    def __init__(self, config: MEMMoEConfig, feature_map, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        if config.num_embeddings < 2:
            raise ValueError(f"a multi-embedding model needs num_embeddings >= 2, got {config.num_embeddings}")
        self.extra_features = nn.ModuleList(FeatureLayer(feature_map, config.embed_dim, pretrained)
                                            for _ in range(config.num_embeddings - 1))
        self.input_dim = self.features.num_fields * config.embed_dim
        self.experts = nn.ModuleList(mlp(self.input_dim, config, output_dim=None)
                                     for _ in range(config.num_embeddings))
        self.expert_width = mlp_width(self.input_dim, config)
        self.gates = self.make_gates()
        self.towers = self.make_towers(self.expert_width)

    def make_gates(self) -> nn.ModuleList:
        return domain_gates(self.n_domains, self.input_dim, self.config.num_embeddings)

    @property
    def embedding_sets(self) -> list[FeatureLayer]:
        return [self.features, *self.extra_features]

    def domain_parts(self):
        return [self.gates, self.towers]

    def regularization(self) -> torch.Tensor:
        return sum(layer.regularization() for layer in self.embedding_sets)

    def set_embeddings(self, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """(B, F, d) field embeddings of every set, set m for expert m."""
        return [layer(batch).flat for layer in self.embedding_sets]

    def expert_logits(self, batch: dict[str, torch.Tensor], embeddings: list[torch.Tensor]) -> torch.Tensor:
        """(B, T) logits: expert m on set m, the sample's domain gate and tower."""
        experts = torch.stack([expert(e.flatten(1)) for expert, e in zip(self.experts, embeddings)], 1)
        x = embeddings[0].flatten(1)
        return self.route(self.domains(batch), lambda d, rows: mix(experts[rows], self.gates[d](x[rows])))

    def outputs(self, batch: dict[str, torch.Tensor]) -> ZooOutputs:
        return ZooOutputs(self.expert_logits(batch, self.set_embeddings(batch)))

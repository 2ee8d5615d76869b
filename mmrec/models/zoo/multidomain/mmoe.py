"""MMoE (Ma et al. 2018) across domains: ``num_experts`` MLP experts on the flattened field embeddings, a softmax
gate per domain over them, the domain's tower on the mixture (ZOO.md §4 baseline; a "task" of MMoE is a domain
here, every label a column of that domain's tower)."""

from __future__ import annotations

import dataclasses

import torch

from mmrec.models.zoo.multidomain.base import MultiDomainConfig, MultiDomainModel, ZooOutputs
from mmrec.models.zoo.multidomain.experts import Experts, domain_gates, mix


@dataclasses.dataclass
class MMoEConfig(MultiDomainConfig):
    num_experts: int = 4


class MMoE(MultiDomainModel):
    model_type = "zoo_mmoe"
    config_class = MMoEConfig

    def __init__(self, config: MMoEConfig, feature_map, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        dim = self.features.num_fields * config.embed_dim
        self.experts = Experts(config.num_experts, dim, config)
        self.gates = domain_gates(self.n_domains, dim, config.num_experts)
        self.towers = self.make_towers(self.experts.width)

    def domain_parts(self):
        return [self.gates, self.towers]

    def outputs(self, batch: dict[str, torch.Tensor]) -> ZooOutputs:
        x = self.features(batch).flat.flatten(1)
        experts = self.experts(x)
        return ZooOutputs(self.route(self.domains(batch), lambda d, rows: mix(experts[rows], self.gates[d](x[rows]))))

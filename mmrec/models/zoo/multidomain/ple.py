"""PLE (Tang et al. 2020, progressive layered extraction) across domains: per level, shared experts and each
domain's own experts; domain d's gate mixes [its experts, the shared ones]; between levels a shared gate mixes
every expert into the next level's shared input. The last level's domain output feeds the domain tower.

Every expert runs on the whole batch (batch-norm statistics over all rows); only the gate and tower of a
sample's own domain score it, so the last level's domain experts learn from their domain's samples alone.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from mmrec.models.zoo.multidomain.base import MultiDomainConfig, MultiDomainModel, ZooOutputs
from mmrec.models.zoo.multidomain.experts import Experts, domain_gates, mix


@dataclasses.dataclass
class PLEConfig(MultiDomainConfig):
    shared_experts: int = 2
    specific_experts: int = 1
    levels: int = 1


class PLE(MultiDomainModel):
    model_type = "zoo_ple"
    config_class = PLEConfig

    def __init__(self, config: PLEConfig, feature_map, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        if config.levels < 1:
            raise ValueError(f"PLE needs at least one level, got levels={config.levels}")
        width = self.features.num_fields * config.embed_dim
        self.shared, self.specific, self.gates, self.shared_gates = (nn.ModuleList() for _ in range(4))
        n_mixed = config.specific_experts + config.shared_experts
        for level in range(config.levels):
            self.shared.append(Experts(config.shared_experts, width, config))
            self.specific.append(nn.ModuleList(Experts(config.specific_experts, width, config)
                                               for _ in range(self.n_domains)))
            self.gates.append(domain_gates(self.n_domains, width, n_mixed))
            if level < config.levels - 1:
                every = config.shared_experts + self.n_domains * config.specific_experts
                self.shared_gates.append(nn.Linear(width, every))
            width = self.shared[-1].width
        self.towers = self.make_towers(width)

    def domain_parts(self):
        """Gates of every level, the last level's domain experts, towers: what scores domain d's samples alone
        (earlier levels' domain experts also feed the shared gate, so they belong to the backbone)."""
        return [*self.gates, self.specific[-1], self.towers]

    def _experts(self, level: int, shared_in: torch.Tensor, domain_in: list[torch.Tensor]):
        return (self.shared[level](shared_in),
                [self.specific[level][d](domain_in[d]) for d in range(self.n_domains)])

    def outputs(self, batch: dict[str, torch.Tensor]) -> ZooOutputs:
        x = self.features(batch).flat.flatten(1)
        shared_in, domain_in = x, [x] * self.n_domains
        for level in range(self.config.levels - 1):
            shared, own = self._experts(level, shared_in, domain_in)
            domain_in = [mix(torch.cat([own[d], shared], 1), self.gates[level][d](domain_in[d]))
                         for d in range(self.n_domains)]
            shared_in = mix(torch.cat([shared, *own], 1), self.shared_gates[level](shared_in))
        shared, own = self._experts(self.config.levels - 1, shared_in, domain_in)
        gates = self.gates[-1]
        return ZooOutputs(self.route(self.domains(batch), lambda d, rows: mix(
            torch.cat([own[d][rows], shared[rows]], 1), gates[d](domain_in[d][rows]))))

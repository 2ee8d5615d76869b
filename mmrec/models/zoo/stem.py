"""STEM / AME (shared and task-specific embeddings, ZOO.md §2 [paper]): one shared embedding set plus one set per
task; a shared expert reads the shared set, task t's expert reads task t's set; task t's gate (on the shared and
its own embeddings) mixes the shared expert, its own expert and the other tasks' experts **with stop-gradient**,
so every task sees every expert in the forward pass ("all forward") but a task's embedding set and expert learn
from that task's loss alone ("task-specific backward"). Why: one shared table entangles the tasks' interests
(their gradients fight on the same rows, the entanglement tool shows it); task tables cannot be pulled by others.

Assumed where the summaries are silent: one expert per set, a softmax gate per task, a tower per task. With one
label it is a shared-plus-own two-set model (nothing to stop).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from mmrec.features.layer import FeatureLayer
from mmrec.models.zoo.base import mlp, mlp_width
from mmrec.models.zoo.multidomain.base import MultiTaskConfig, MultiTaskModel, ZooOutputs, tower_config
from mmrec.models.zoo.multidomain.experts import mix


@dataclasses.dataclass
class STEMConfig(MultiTaskConfig):
    pass


class STEM(MultiTaskModel):
    model_type = "zoo_stem"
    config_class = STEMConfig

    def __init__(self, config: STEMConfig, feature_map, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        self.task_features = nn.ModuleList(FeatureLayer(feature_map, config.embed_dim, pretrained)
                                           for _ in self.tasks)
        dim = self.features.num_fields * config.embed_dim
        self.shared_expert = mlp(dim, config, output_dim=None)
        self.task_experts = nn.ModuleList(mlp(dim, config, output_dim=None) for _ in self.tasks)
        self.gates = nn.ModuleList(nn.Linear(2 * dim, self.num_tasks + 1) for _ in self.tasks)
        self.towers = nn.ModuleList(mlp(mlp_width(dim, config), tower_config(config), 1) for _ in self.tasks)

    def regularization(self) -> torch.Tensor:
        return self.features.regularization() + sum(layer.regularization() for layer in self.task_features)

    def outputs(self, batch: dict[str, torch.Tensor]) -> ZooOutputs:
        shared_in = self.features(batch).flat.flatten(1)
        own_in = [layer(batch).flat.flatten(1) for layer in self.task_features]
        shared = self.shared_expert(shared_in)
        experts = [expert(x) for expert, x in zip(self.task_experts, own_in)]
        logits = []
        for t, (gate, tower) in enumerate(zip(self.gates, self.towers)):
            seen = [shared] + [e if u == t else e.detach() for u, e in enumerate(experts)]
            h = mix(torch.stack(seen, 1), gate(torch.cat([shared_in, own_in[t]], 1)))
            logits.append(tower(h))
        return ZooOutputs(torch.cat(logits, 1))

"""Logistic regression: bias + Σ first-order weights of every field (the BARS LR row)."""

from __future__ import annotations

import dataclasses

import torch

from mmrec.models.zoo.base import ZooConfig, ZooModel


@dataclasses.dataclass
class LRConfig(ZooConfig):
    pass


class LR(ZooModel):
    model_type = "zoo_lr"
    config_class = LRConfig
    first_order = True

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.features.first_order(batch)

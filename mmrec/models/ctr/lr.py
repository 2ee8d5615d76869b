"""Logistic regression on IDs and features: the CTR floor that catches a broken pipeline."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from mmrec.data.ctr_batches import CTRBatch, FeatureSpec
from mmrec.items.base import ItemRepresentation
from mmrec.models.ctr.base import CTRModel, CTROutput, Modalities
from mmrec.models.ctr.layers import FeatureEmbedder


@dataclasses.dataclass
class LRConfig:
    """No hyper-parameters beyond the optimiser's; kept for the registry's uniform shape."""


class LogisticRegression(CTRModel):
    """logit = bias + w[user] + Σ w[user feature] + w·genres + w[item]."""

    model_type = "lr"
    config_class = LRConfig

    def __init__(self, config: LRConfig, spec: FeatureSpec, modalities: Modalities | None = None,
                 item_repr: ItemRepresentation | None = None):
        super().__init__(config, spec, modalities, item_repr)
        self.features = FeatureEmbedder(spec, 1)
        self.item_repr = self.default_item_repr(spec, 1, item_repr)
        self.bias = nn.Parameter(torch.zeros(1))

    def first_order(self, batch: CTRBatch) -> torch.Tensor:
        """(B,) sum of the per-field weights (reused as DeepFM's linear part)."""
        return self.features(batch).sum(dim=(1, 2)) + self.item_repr(batch.item).squeeze(-1) + self.bias

    def forward(self, batch: CTRBatch) -> CTROutput:
        return CTROutput(self.first_order(batch))

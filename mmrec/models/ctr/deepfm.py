"""DeepFM (Guo et al., 2017): a linear part, pairwise factorisation-machine interactions and an MLP, summed."""

from __future__ import annotations

import dataclasses

import torch

from mmrec.data.ctr_batches import CTRBatch, FeatureSpec
from mmrec.items.base import ItemRepresentation
from mmrec.models.ctr.base import CTRModel, CTROutput, Modalities
from mmrec.models.ctr.layers import FeatureEmbedder, masked_mean, mlp
from mmrec.models.ctr.lr import LogisticRegression, LRConfig


@dataclasses.dataclass
class DeepFMConfig:
    embed_dim: int = 32
    mlp_hidden: list[int] = dataclasses.field(default_factory=lambda: [128, 64])
    dropout: float = 0.1


class DeepFM(CTRModel):
    """Fields: user ID, user features, genre bag, target item, mean of the history's item vectors."""

    model_type = "deepfm"
    config_class = DeepFMConfig

    def __init__(self, config: DeepFMConfig, spec: FeatureSpec, modalities: Modalities | None = None,
                 item_repr: ItemRepresentation | None = None):
        super().__init__(config, spec, modalities, item_repr)
        d = config.embed_dim
        self.linear = LogisticRegression(LRConfig(), spec)
        self.features = FeatureEmbedder(spec, d)
        self.item_repr = self.default_item_repr(spec, d, item_repr)
        n_fields = self.features.n_fields + 2
        self.deep = mlp([n_fields * d, *config.mlp_hidden, 1], config.dropout)

    def forward(self, batch: CTRBatch) -> CTROutput:
        history = masked_mean(self.item_repr(batch.history), batch.history_mask)
        fields = torch.cat([self.features(batch), self.item_repr(batch.item).unsqueeze(1), history.unsqueeze(1)], dim=1)
        fm = 0.5 * (fields.sum(1).pow(2) - fields.pow(2).sum(1)).sum(-1)
        deep = self.deep(fields.flatten(1)).squeeze(-1)
        return CTROutput(self.linear.first_order(batch) + fm + deep)

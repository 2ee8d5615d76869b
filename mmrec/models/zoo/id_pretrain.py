"""Two-stage contrastive ID pre-training, stage 1 (ZOO.md §4 [paper]): a minimal model of only the user and item
ID tables and their dot product, trained with in-batch softmax over a wide window (:mod:`mmrec.train.id_pretrain`);
stage 2 starts a ranker's ID tables from it (:func:`init_ranker_from`) and fine-tunes the ranker.

Why: a ranker's ID embeddings overfit after one epoch (the one-epoch phenomenon); a contrastive ID model can run
several epochs without overfitting, and its tables carry that longer training into the ranker, most for tail IDs.
The ID tables are the user / item blocks of the feature layer's table, in the ranker's own layout, so stage 2 is a
row copy. Assumed: cosine-free dot product scaled by 1 / ``temperature``; duplicates of the positive item in the
batch are masked out of its negatives.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from mmrec.features.feature_map import FeatureMap
from mmrec.features.layer import FeatureLayer
from mmrec.models.zoo.base import ZooConfig, ZooModel


@dataclasses.dataclass
class IDPretrainConfig(ZooConfig):
    user_field: str = "user"
    item_field: str = "item"
    temperature: float = 0.1


class IDDotProduct(ZooModel):
    """score(u, i) = ⟨e_u, e_i⟩ / τ over the user and item ID tables only."""

    model_type = "zoo_id_pretrain"
    config_class = IDPretrainConfig

    def __init__(self, config: IDPretrainConfig, feature_map: FeatureMap, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        for name in (config.user_field, config.item_field):
            if name not in self.features.categorical:
                raise ValueError(f"ID field '{name}' is not a categorical field of the feature map "
                                 f"({', '.join(self.features.categorical)})")
        self.user_column = self.features.categorical.index(config.user_field)
        self.item_column = self.features.categorical.index(config.item_field)

    def vectors(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, d) user and item vectors."""
        rows = self.features.pack(batch)["_categorical"]
        table = self.features.table.weight
        return F.embedding(rows[:, self.user_column], table), F.embedding(rows[:, self.item_column], table)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        users, items = self.vectors(batch)
        return (users * items).sum(1) / self.config.temperature

    def in_batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Softmax over the batch's items for each user (its own item the target; copies of it masked)."""
        users, items = self.vectors(batch)
        logits = users @ items.T / self.config.temperature
        item_rows = self.features.pack(batch)["_categorical"][:, self.item_column]
        same = (item_rows[:, None] == item_rows[None, :]) & ~torch.eye(len(item_rows), dtype=torch.bool)
        logits = logits.masked_fill(same, float("-inf"))
        return F.cross_entropy(logits, torch.arange(len(item_rows)))

    def id_regularization(self) -> torch.Tensor:
        """½‖E‖² of the two ID blocks only (the other fields' rows are never read)."""
        return 0.5 * sum(self.features.field_table(n).pow(2).sum()
                         for n in (self.config.user_field, self.config.item_field))


def _layers(model: torch.nn.Module) -> list[FeatureLayer]:
    return [m for m in model.modules() if isinstance(m, FeatureLayer)]


@torch.no_grad()
def init_ranker_from(ranker: ZooModel, stage1: IDDotProduct) -> list[str]:
    """Copy stage 1's user / item rows into every feature layer of ``ranker`` (multi-embedding models: each set);
    the vocabularies and the embedding width must match. Returns the fields copied."""
    fields = [stage1.config.user_field, stage1.config.item_field]
    for name in fields:
        if ranker.feature_map.entry(name).vocab != stage1.feature_map.entry(name).vocab:
            raise ValueError(f"field '{name}': the ranker's vocabulary differs from stage 1's (fit both on one map)")
    for layer in _layers(ranker):
        if layer.embed_dim != stage1.config.embed_dim:
            raise ValueError(f"the ranker's embed_dim {layer.embed_dim} differs from stage 1's "
                             f"{stage1.config.embed_dim}")
        for name in fields:
            layer.field_table(name).copy_(stage1.features.field_table(name))
    return fields

"""Multi-Embedding (Guo et al. 2024, "On the embedding collapse when scaling up recommendation models"; ZOO.md §2,
[code: thuml/Multi-Embedding]): M embedding sets, each with its own tables and its own interaction, averaged.

Set m embeds the fields with its own :class:`~mmrec.features.layer.FeatureLayer` E^(m) and crosses them with its
own interaction: ME-DCNv2 = a full-rank CrossNetV2 then one ReLU layer (Linear -> BatchNorm -> ReLU -> Dropout, the
tower's first width); ME-DNN = that ReLU layer alone. h = mean_m h^(m), then the shared rest of the tower and a
linear output. At M = 1 the model is the stacked DCNv2 / the DNN of the same widths (tested with copied weights),
so "single embedding" in the scaling sweep is this class at M = 1 with M·d dimensions.

Repo defaults: embedding 10 per set, 4 cross layers, tower (400, 400), dropout 0.2 (its Adam 1e-3, batch 2048,
weight decay 1e-6 and patience 3 are trainer settings; the zoo trainer has no weight decay). The embedding
regulariser of :class:`~mmrec.models.zoo.base.ZooConfig` reaches only the first set's table through the trainer,
so it is refused for M > 1 rather than applied unevenly.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from mmrec.features.feature_map import FeatureMap
from mmrec.features.layer import FeatureLayer
from mmrec.models.zoo.base import MLPConfig, ZooModel, mlp
from mmrec.models.zoo.dcnv2 import CrossNetV2


@dataclasses.dataclass
class MEConfig(MLPConfig):
    """M sets of ``embed_dim`` each; ``hidden_units[0]`` is the set-specific ReLU layer, the rest is shared."""

    num_sets: int = 2
    cross_layers: int = 4
    hidden_units: list[int] = dataclasses.field(default_factory=lambda: [400, 400])

    def validate(self) -> None:
        if self.num_sets < 1:
            raise ValueError(f"Multi-Embedding num_sets must be >= 1, got {self.num_sets}")
        if not self.hidden_units:
            raise ValueError("Multi-Embedding needs hidden_units: its first width is the set-specific ReLU layer")
        if self.num_sets > 1 and self.embedding_regularizer:
            raise ValueError("Multi-Embedding with num_sets > 1 takes no embedding_regularizer (the trainer applies "
                             "it to the first set's table only); set it to 0")


class _MultiEmbedding(ZooModel):
    """M feature layers (the first is ``self.features``), one interaction per set, the mean, a shared tower."""

    config_class = MEConfig
    with_cross = False  # ME-DCNv2: a CrossNetV2 before each set's ReLU layer

    def __init__(self, config: MEConfig, feature_map: FeatureMap, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        config.validate()
        self.extra_sets = nn.ModuleList(FeatureLayer(feature_map, config.embed_dim, pretrained)
                                        for _ in range(config.num_sets - 1))
        dim = self.features.num_fields * config.embed_dim
        own = dataclasses.replace(config, hidden_units=config.hidden_units[:1])
        self.interactions = nn.ModuleList(
            nn.Sequential(*([CrossNetV2(dim, config.cross_layers)] if self.with_cross else []),
                          *mlp(dim, own, output_dim=None))
            for _ in range(config.num_sets))
        shared = dataclasses.replace(config, hidden_units=config.hidden_units[1:])
        self.tower = mlp(config.hidden_units[0], shared)

    @property
    def embedding_sets(self) -> list[FeatureLayer]:
        return [self.features, *self.extra_sets]

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = self.features.pack(batch)
        h = torch.stack([interaction(layer(batch).flat.flatten(1))
                         for layer, interaction in zip(self.embedding_sets, self.interactions)], 0).mean(0)
        return self.tower(h).squeeze(-1)


class MEDCNv2(_MultiEmbedding):
    model_type = "zoo_me_dcnv2"
    with_cross = True


class MEDNN(_MultiEmbedding):
    model_type = "zoo_me_dnn"

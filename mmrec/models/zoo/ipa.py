"""IPA: a CTR model as three choices (ZOO.md §2, [paper]): interaction function × layer pooling × layer
aggregator (:mod:`mmrec.models.zoo.ipa_parts`), then a head, optionally beside a parallel MLP on the embeddings.

Known models are points of the grid (tested equal, for copied weights, to the standalone zoo models):

- FM     = naive × pairs × sum, head ``sum`` (Σ of every element, no weight), first order on, no MLP;
- DCNv2  = projected × cross (``layers`` = cross layers) × last, head ``linear`` on [x_L; MLP(x_0)].

PFL (:class:`PFL`) is meant as the grid's strongest point on validation: benchmarks/bench_zoo13.py trains the
``ipa_*`` cells (five interaction × pooling × aggregator points, each beside the MLP) and ``pfl_choice`` takes the
best seed-0 validation AUC. Until that sweep has run (benchmarks/results/zoo13.md says whether it has), the
defaults are the point assumed strongest: projected interactions (the most expressive function), cross pooling
(orders beyond 2), every layer concatenated into the head.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from mmrec.features.feature_map import FeatureMap
from mmrec.models.zoo.base import MLPConfig, ZooModel, mlp, mlp_width
from mmrec.models.zoo.ipa_parts import AGGREGATORS, INTERACTIONS, POOLINGS, CrossPooling, PairInteraction, aggregate

HEADS = ("linear", "sum")


@dataclasses.dataclass
class IPAConfig(MLPConfig):
    """The three IPA choices, the head, and the optional parallel MLP (``hidden_units`` = [] for none)."""

    interaction: str = "projected"
    pooling: str = "cross"
    layers: int = 3               # cross pooling's depth (pairs pooling has one layer)
    aggregator: str = "last"
    head: str = "linear"          # "sum": the logit is Σ of the aggregate (FM); "linear": one linear layer
    first_order: bool = False     # add the first-order (LR) term to the logit
    hidden_units: list[int] = dataclasses.field(default_factory=lambda: [400, 400, 400])

    def validate(self) -> None:
        for name, value, allowed in (("interaction", self.interaction, INTERACTIONS),
                                     ("pooling", self.pooling, POOLINGS),
                                     ("aggregator", self.aggregator, AGGREGATORS), ("head", self.head, HEADS)):
            if value not in allowed:
                raise ValueError(f"IPA {name} '{value}' is not one of {', '.join(allowed)}")
        if self.head == "sum" and self.hidden_units:
            raise ValueError("IPA head 'sum' has no weights to mix an MLP in: set hidden_units to []")
        if self.pooling == "cross" and self.layers < 1:
            raise ValueError(f"IPA cross pooling needs layers >= 1, got {self.layers}")


class IPA(ZooModel):
    """The feature layer, one IPA interaction block, one head (+ the first-order term when configured)."""

    model_type = "zoo_ipa"
    config_class = IPAConfig

    @property
    def first_order(self) -> bool:  # read by ZooModel.__init__: the feature layer carries LR weights when asked
        return self.config.first_order

    def __init__(self, config: IPAConfig, feature_map: FeatureMap, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        config.validate()
        f, k = self.features.num_fields, config.embed_dim
        if config.pooling == "pairs":
            self.interaction = PairInteraction(config.interaction, f, k)
            width = (f * (f - 1) // 2) * k
        else:
            self.interaction = CrossPooling(config.interaction, f, k, config.layers)
            width = f * k * (config.layers if config.aggregator == "concat" else 1)
        self.tower = mlp(f * k, config, output_dim=None) if config.hidden_units else None
        if self.tower is not None:
            width += mlp_width(f * k, config)
        self.head = nn.Linear(width, 1) if config.head == "linear" else None

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = self.features.pack(batch)
        emb = self.features(batch).flat
        layers = self.interaction(emb)
        layers = [layers] if isinstance(layers, torch.Tensor) else layers
        h = aggregate(layers, self.config.aggregator)
        if self.tower is not None:
            h = torch.cat([h, self.tower(emb.flatten(1))], 1)
        logit = h.sum(1) if self.head is None else self.head(h).squeeze(-1)
        return logit + self.features.first_order(batch) if self.config.first_order else logit


@dataclasses.dataclass
class PFLConfig(IPAConfig):
    """PFL: projected × cross × concat (see :mod:`mmrec.models.zoo.ipa`'s docstring for how it is chosen)."""

    interaction: str = "projected"
    pooling: str = "cross"
    aggregator: str = "concat"


class PFL(IPA):
    model_type = "zoo_pfl"
    config_class = PFLConfig

"""PAD's expert backbones, described by a config so that a saved PAD or aligned tower rebuilds from ``config.json``.

Every expert is a registered sequential backbone (SASRec, GRU4Rec) over a cold-aware item side
(``mmrec.models.content_items``): the ID expert over an ID table, the aligned expert over GELU(W[e'; P(t)]), the
content expert over P(t). :class:`ExpertConfig` builds each one with zero tables and zero content of the right
shapes: training copies the pre-trained weights in (``mmrec.train.pad``), loading reads them from the safetensors.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import torch

from alignment.align import ProjectorConfig
from mmrec.config import ConfigError, from_dict
from mmrec.models.base import SequentialRecommender
from mmrec.models.content_items import AlignedContentItems, ColdIDItems, ProjectedContentItems
from mmrec.models.item_repr import ItemRepresentation
from mmrec.models.registry import get_spec


def backbone(name: str, config: Any, n_items: int, item_repr: ItemRepresentation | None = None
             ) -> SequentialRecommender:
    """A fresh backbone of the registered model ``name`` (e.g. sasrec, gru4rec) over ``item_repr``."""
    spec = get_spec(name)
    model = spec.model_class(dataclasses.replace(config, n_items=n_items), item_repr)
    if not isinstance(model, SequentialRecommender):
        raise TypeError(f"'{name}' is not a sequential backbone")
    return model


@dataclasses.dataclass
class ExpertConfig:
    """One expert's architecture: the backbone, its hyper-parameters and the content projector."""

    backbone: Literal["sasrec", "gru4rec"] = "sasrec"
    backbone_config: dict[str, Any] = dataclasses.field(default_factory=dict)  # n_items comes from the item counts
    content_dim: int = 0  # width of the frozen item content t_i (text, image, LLM or their concatenation)
    projector_layers: int = 2  # P: content_dim -> dim, then (layers - 1) x dim -> dim
    projector_dropout: float = 0.1

    def validate(self) -> None:
        if self.content_dim < 1 or self.projector_layers < 1:
            raise ConfigError(f"experts: content_dim ({self.content_dim}) and projector_layers "
                              f"({self.projector_layers}) must be >= 1")
        self.typed_backbone_config(0)

    def typed_backbone_config(self, n_items: int) -> Any:
        """``backbone_config`` as the backbone's dataclass (unknown keys are a ConfigError naming them)."""
        fields = {k: v for k, v in self.backbone_config.items() if k != "n_items"}
        return from_dict(get_spec(self.backbone).config_class, {**fields, "n_items": n_items}, "backbone_config")

    def dim(self) -> int:
        return self.typed_backbone_config(0).dim

    def projector(self) -> ProjectorConfig:
        return ProjectorConfig(self.content_dim, self.dim(), self.projector_layers, self.projector_dropout)

    def _build(self, n_items: int, item_repr: ItemRepresentation) -> SequentialRecommender:
        return backbone(self.backbone, self.typed_backbone_config(n_items), n_items, item_repr)

    def id_expert(self, n_items: int) -> SequentialRecommender:
        return self._build(n_items, ColdIDItems(torch.zeros(n_items + 1, self.dim())))

    def aligned_expert(self, n_items: int) -> SequentialRecommender:
        return self._build(n_items, AlignedContentItems(torch.zeros(n_items + 1, self.dim()),
                                                        torch.zeros(n_items + 1, self.content_dim), self.projector()))

    def content_expert(self, n_items: int) -> SequentialRecommender:
        return self._build(n_items, ProjectedContentItems(torch.zeros(n_items + 1, self.content_dim),
                                                          self.projector()))

    @classmethod
    def of(cls, name: str, config: Any, content_dim: int, projector_layers: int, projector_dropout: float
           ) -> "ExpertConfig":
        """From a backbone name and its config dataclass (as ``train.models`` holds them)."""
        fields = {k: v for k, v in dataclasses.asdict(config).items() if k != "n_items"}
        return cls(name, fields, content_dim, projector_layers, projector_dropout)

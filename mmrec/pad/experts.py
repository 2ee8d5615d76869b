"""PAD's expert backbones: a registered sequential backbone (SASRec, GRU4Rec) over a cold-aware item side.

The ID expert reads an ID table, the aligned expert GELU(W[e'; P(t)]), the content expert P(t)
(:mod:`mmrec.items.content`). Each is built with zero tables and zero content of the right shapes (so a saved PAD
or tower rebuilds from ``config.json``); training copies the pre-trained weights in through the item sides'
``load_*`` methods, loading reads them from the safetensors.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import torch

from mmrec.core.config import from_dict
from mmrec.items.base import ItemRepresentation
from mmrec.items.content import AlignedContentItems, ColdIDItems, ProjectedContentItems
from mmrec.models.base import SequentialRecommender
from mmrec.models.gru4rec import GRU4Rec
from mmrec.models.sasrec import SASRec
from mmrec.pad.config import PADConfig

BACKBONES: dict[str, type[SequentialRecommender]] = {"sasrec": SASRec, "gru4rec": GRU4Rec}  # PADConfig.backbone


@dataclasses.dataclass
class Experts:
    """What every expert of one PAD shares: the backbone's config (``train.models[<backbone>]``), the content
    widths and PAD's settings."""

    config: PADConfig
    backbone_config: Any  # the backbone's config dataclass (n_items is set per model)
    content_dim: int  # the aligned expert's content (``PADConfig.content``)
    expert_content_dim: int | None = None  # the content expert's (``PADConfig.content_expert``); None: content_dim

    @property
    def dim(self) -> int:
        return self.backbone_config.dim

    @classmethod
    def from_json(cls, config: PADConfig, init_args: dict[str, Any]) -> "Experts":
        """From ``config.json``'s ``init_args`` (the backbone config as a mapping)."""
        fields = {k: v for k, v in init_args["backbone_config"].items() if k != "n_items"}
        return cls(config, from_dict(BACKBONES[config.backbone].config_class, fields, "init_args.backbone_config"),
                   init_args["content_dim"], init_args.get("expert_content_dim"))

    def init_args(self) -> dict[str, Any]:
        return {"backbone_config": {k: v for k, v in dataclasses.asdict(self.backbone_config).items()
                                    if k != "n_items"}, "content_dim": self.content_dim,
                "expert_content_dim": self.expert_content_dim}

    def backbone(self, n_items: int, item_repr: ItemRepresentation) -> SequentialRecommender:
        """A fresh backbone over ``item_repr``."""
        return BACKBONES[self.config.backbone](dataclasses.replace(self.backbone_config, n_items=n_items), item_repr)

    def id_expert(self, n_items: int) -> SequentialRecommender:
        return self.backbone(n_items, ColdIDItems(torch.zeros(n_items + 1, self.dim)))

    def aligned_expert(self, n_items: int) -> SequentialRecommender:
        projector = self.config.projector(self.content_dim, self.dim)
        return self.backbone(n_items, AlignedContentItems(torch.zeros(n_items + 1, self.dim),
                                                          torch.zeros(n_items + 1, self.content_dim), projector))

    def content_expert(self, n_items: int) -> SequentialRecommender:
        width = self.expert_content_dim or self.content_dim
        projector = self.config.projector(width, self.dim)
        return self.backbone(n_items, ProjectedContentItems(torch.zeros(n_items + 1, width), projector))


def copy_encoder(source: SequentialRecommender, target: SequentialRecommender) -> SequentialRecommender:
    """Load ``source``'s sequence-encoder weights (everything but its item representation) into ``target``."""
    state = {k: v.detach().clone() for k, v in source.state_dict().items() if not k.startswith("item_repr.")}
    missing, unexpected = target.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("item_repr.") for k in missing):
        raise ValueError(f"encoders differ: missing {missing}, unexpected {unexpected}")
    return target


def upgrade_v1(saved: dict[str, Any], expert_key: str, settings: dict[str, Any]) -> dict[str, Any]:
    """A format-1 PAD / tower ``config.json`` (its config held an ``ExpertConfig``) in the format-2 layout."""
    old = saved["config"]
    expert = old[expert_key]
    config = {"backbone": expert["backbone"], "projector_layers": expert["projector_layers"],
              "projector_dropout": expert["projector_dropout"], **settings}
    init_args = {"backbone_config": {k: v for k, v in expert["backbone_config"].items() if k != "n_items"},
                 "content_dim": expert["content_dim"]}
    return {**saved, "config": config, "init_args": init_args}


class SavesExperts:
    """Hub hooks shared by PAD and its aligned tower: the experts' architecture travels in ``config.json``'s
    ``init_args``; a format-1 folder (its config held an ``ExpertConfig`` under ``V1_EXPERT_KEY``) is upgraded."""

    architecture: Experts
    V1_EXPERT_KEY: ClassVar[str]
    V1_SETTINGS: ClassVar[tuple[str, ...]]  # the format-1 config's own keys, kept as PADConfig fields

    def hub_init_args(self) -> dict[str, Any]:
        return self.architecture.init_args()

    @classmethod
    def hub_rebuild_args(cls, init_args: dict[str, Any], config: PADConfig) -> dict[str, Any]:
        return {"experts": Experts.from_json(config, init_args)}

    @classmethod
    def hub_upgrade(cls, saved: dict[str, Any], path: Path) -> dict[str, Any]:
        return upgrade_v1(saved, cls.V1_EXPERT_KEY, {k: saved["config"][k] for k in cls.V1_SETTINGS})

"""PAD's align step as a model: a backbone over the aligned item embedding, trained with L_rec + λ · MK-MMD.

The backbone (a copy of the pre-trained encoder) reads items through ``AlignedContentItems``; its
``auxiliary_loss`` adds λ · MKMMD(P(t), e') over the distinct items of each training batch, which the shared
sequential trainer adds to the recommendation loss. The pre-trained model it was copied from is not touched.
A tower is built from its config and the never-seen mask (a buffer), so it saves and loads with the Hub mixin.
"""

from __future__ import annotations

import dataclasses

import torch

from alignment.align import alignment_mmd
from mmrec.config import ConfigError
from mmrec.models.base import SequentialRecommender
from mmrec.models.content_items import AlignedContentItems
from mmrec.models.experts import ExpertConfig
from mmrec.models.pad import ColdItemsMixin


@dataclasses.dataclass
class AlignedTowerConfig:
    """The tower's backbone and projector, and its training-time settings."""

    expert: ExpertConfig = dataclasses.field(default_factory=ExpertConfig)
    mmd_weight: float = 0.2  # λ; 0 = no alignment loss
    cold_dropout: float = 0.0  # share of items treated as never-seen at each training step

    def validate(self) -> None:
        self.expert.validate()
        if self.mmd_weight < 0 or not 0.0 <= self.cold_dropout < 1.0:
            raise ConfigError(f"aligned tower: mmd_weight ({self.mmd_weight}) must be >= 0, cold_dropout "
                              f"({self.cold_dropout}) in [0, 1)")


class AlignedTower(ColdItemsMixin, SequentialRecommender):
    """A backbone whose ``item_repr`` is an ``AlignedContentItems``; never-seen items go through P(t).

    ``never_seen``: (N + 1,) bool, the items without training interactions. The backbone starts from a zero ID
    table and zero content (see :class:`ExpertConfig`); ``mmrec.train.pad.build_tower`` copies the anchor in.
    """

    def __init__(self, config: AlignedTowerConfig, never_seen: torch.Tensor):
        super().__init__()
        config.validate()
        self.config, self.mmd_weight, self.cold_dropout = config, config.mmd_weight, config.cold_dropout
        self.backbone = config.expert.aligned_expert(len(never_seen) - 1)
        self.n_items, self.max_len = self.backbone.n_items, self.backbone.max_len
        self.register_buffer("never_seen", never_seen.clone().bool())
        self.resample_cold()

    @property
    def item_repr(self) -> AlignedContentItems:  # type: ignore[override]
        return self.backbone.item_repr

    def cold_reprs(self) -> list[torch.nn.Module]:
        return [self.backbone.item_repr]

    def forward(self, histories: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.resample_cold()
        return self.encode_sequence(histories)

    def encode_sequence(self, histories: torch.Tensor) -> torch.Tensor:
        return self.backbone.encode_sequence(histories)

    def auxiliary_loss(self, windows: torch.Tensor) -> torch.Tensor | None:
        """λ · MKMMD(P(t), e') over the distinct items of a training batch; None when λ = 0."""
        if self.mmd_weight == 0.0:
            return None
        return self.mmd_weight * alignment_mmd(self.backbone.item_repr.aligned, windows)

"""PAD's align step as a model: a backbone over the aligned item embedding, trained with L_rec + λ · MK-MMD.

The backbone (a copy of the pre-trained encoder) reads items through ``AlignedContentItems``; its
``auxiliary_loss`` adds λ · MKMMD(P(t), e') over the distinct items of each training batch, which the shared
sequential trainer adds to the recommendation loss. The pre-trained model it was copied from is not touched.
"""

from __future__ import annotations

import torch

from alignment.align import alignment_mmd
from mmrec.models.base import SequentialRecommender
from mmrec.models.content_items import AlignedContentItems
from mmrec.models.pad import ColdItemsMixin


class AlignedTower(ColdItemsMixin, SequentialRecommender):
    """A backbone whose ``item_repr`` is an ``AlignedContentItems``; never-seen items go through P(t)."""

    def __init__(self, backbone: SequentialRecommender, never_seen: torch.Tensor, mmd_weight: float = 0.2,
                 cold_dropout: float = 0.0):
        super().__init__()
        if not isinstance(backbone.item_repr, AlignedContentItems):
            raise TypeError("AlignedTower needs a backbone whose item_repr is AlignedContentItems")
        self.backbone, self.mmd_weight, self.cold_dropout = backbone, mmd_weight, cold_dropout
        self.n_items, self.max_len = backbone.n_items, backbone.max_len
        self.register_buffer("never_seen", never_seen.clone())
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

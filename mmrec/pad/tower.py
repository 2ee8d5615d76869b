"""PAD's align step as a model: a backbone over the aligned item embedding, trained with L_rec + λ · MK-MMD.

The backbone (a copy of the pre-trained encoder) reads items through ``AlignedContentItems``; its
``auxiliary_loss`` adds λ · MKMMD(P(t), e') over the distinct items of each training batch, which the shared
sequential trainer adds to the recommendation loss. The pre-trained model it was copied from is not touched.
A tower is built from its config, the experts' architecture and the never-seen mask (a buffer), so it saves and
loads with the Hub mixin; :meth:`AlignedTower.from_anchor` builds one from a trained anchor.
"""

from __future__ import annotations

import numpy as np
import torch

from alignment.align import alignment_mmd
from mmrec.items.cold import ColdItemsMixin, never_seen_mask
from mmrec.items.content import AlignedContentItems
from mmrec.models.base import SequentialRecommender
from mmrec.pad.config import PADConfig
from mmrec.pad.experts import Experts, SavesExperts, copy_encoder


class AlignedTower(ColdItemsMixin, SavesExperts, SequentialRecommender):
    """A backbone whose ``item_repr`` is an ``AlignedContentItems``; never-seen items go through P(t).

    ``never_seen``: (N + 1,) bool, the items without training interactions. The backbone starts from a zero ID
    table and zero content (see :class:`~mmrec.pad.experts.Experts`); :meth:`from_anchor` copies the anchor in.
    """

    model_type = "aligned_tower"
    V1_EXPERT_KEY, V1_SETTINGS = "expert", ("mmd_weight", "cold_dropout")

    def __init__(self, config: PADConfig, experts: Experts, never_seen: torch.Tensor):
        super().__init__()
        config.validate()
        self.config, self.architecture = config, experts
        self.mmd_weight, self.cold_dropout = config.mmd_weight, config.cold_dropout
        self.backbone = experts.aligned_expert(len(never_seen) - 1)
        self.n_items, self.max_len = self.backbone.n_items, self.backbone.max_len
        self.register_buffer("never_seen", never_seen.clone().bool())
        self.resample_cold()

    @classmethod
    def from_anchor(cls, anchor: SequentialRecommender, content: torch.Tensor, item_counts: np.ndarray,
                    config: PADConfig) -> "AlignedTower":
        """An untrained tower: copies of the anchor's ID table and encoder, a fresh projector and fusion."""
        tower = cls(config, Experts(config, anchor.config, content.shape[1]), never_seen_mask(item_counts))
        copy_encoder(anchor, tower.backbone)
        tower.item_repr.load_tables(anchor.item_repr.all_items().detach(), content)
        return tower

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

    def encode_history(self, histories: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        return self.backbone.encode_history(histories, items)

    def auxiliary_loss(self, windows: torch.Tensor) -> torch.Tensor | None:
        """λ · MKMMD(P(t), e') over the distinct items of a training batch; None when λ = 0."""
        if self.mmd_weight == 0.0:
            return None
        return self.mmd_weight * alignment_mmd(self.backbone.item_repr.aligned, windows)

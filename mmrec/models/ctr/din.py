"""DIN (Zhou et al., 2018): target attention over the history, then an MLP.

With ``use_modalities`` the item vector of the target and of every history item is the concatenation of its ID
embedding and its projected modality embeddings (``din_mm``): the same inputs Diff-MSIN gets, without its modules.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from mmrec.data.ctr_batches import CTRBatch, FeatureSpec
from mmrec.items.base import ItemRepresentation
from mmrec.models.ctr.base import CTRModel, CTROutput, Modalities
from mmrec.models.ctr.layers import DINAttention, FeatureEmbedder, ModalityEncoder, mlp


@dataclasses.dataclass
class DINConfig:
    embed_dim: int = 32
    attention_hidden: int = 36
    mlp_hidden: list[int] = dataclasses.field(default_factory=lambda: [128, 64])
    dropout: float = 0.1
    use_modalities: bool = False
    modalities: list[str] = dataclasses.field(default_factory=lambda: ["text", "image"])


class DIN(CTRModel):
    model_type = "din"
    config_class = DINConfig

    def __init__(self, config: DINConfig, spec: FeatureSpec, modalities: Modalities | None = None,
                 item_repr: ItemRepresentation | None = None):
        super().__init__(config, spec, modalities, item_repr)
        d = config.embed_dim
        self.features = FeatureEmbedder(spec, d)
        self.item_repr = self.default_item_repr(spec, d, item_repr)
        names = config.modalities if config.use_modalities else []
        missing = [m for m in names if m not in (modalities or {})]
        if missing:
            raise ValueError(f"DIN with modalities needs tables for {missing}")
        self.modalities = nn.ModuleDict({m: ModalityEncoder(*modalities[m], d) for m in names})
        item_dim = d * (1 + len(names))
        self.attention = DINAttention(item_dim, config.attention_hidden)
        self.head = mlp([self.features.n_fields * d + 2 * item_dim, *config.mlp_hidden, 1], config.dropout)

    @classmethod
    def modalities_needed(cls, config: DINConfig) -> list[str]:
        return list(config.modalities) if config.use_modalities else []

    def item_vectors(self, items: torch.Tensor) -> torch.Tensor:
        """ID embedding, then each modality's projection (zero where the item lacks it)."""
        parts = [self.item_repr(items)] + [enc(items)[0] for enc in self.modalities.values()]
        return torch.cat(parts, dim=-1)

    def forward(self, batch: CTRBatch) -> CTROutput:
        target = self.item_vectors(batch.item)
        interest = self.attention(target, self.item_vectors(batch.history), batch.history_mask)
        x = torch.cat([self.features(batch).flatten(1), target, interest], dim=-1)
        return CTROutput(self.head(x).squeeze(-1))

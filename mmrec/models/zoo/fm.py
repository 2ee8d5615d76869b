"""Factorization machine (Rendle 2010): first order + Σ_{i<j} <e_i, e_j>, the pairwise sum in O(F·d)."""

from __future__ import annotations

import dataclasses

import torch

from mmrec.models.zoo.base import ZooConfig, ZooModel


def pairwise_interaction(emb: torch.Tensor) -> torch.Tensor:
    """Σ_{i<j} <e_i, e_j> of (B, F, d) field embeddings = ½ Σ_d ((Σ_i e_i)² − Σ_i e_i²), shape (B,)."""
    return 0.5 * (emb.sum(1).pow(2) - emb.pow(2).sum(1)).sum(1)


@dataclasses.dataclass
class FMConfig(ZooConfig):
    pass


class FM(ZooModel):
    model_type = "zoo_fm"
    config_class = FMConfig
    first_order = True

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = self.features.pack(batch)
        return self.features.first_order(batch) + pairwise_interaction(self.features(batch).flat)

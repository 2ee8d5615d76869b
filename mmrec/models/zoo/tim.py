"""TIM, the temporal interest module of the Tencent ads paper (ZOO.md §2, [paper]; TIN, Zhou et al. 2024).

Target-aware temporal encoding: each behaviour e_i gets ẽ_i = e_i ⊕ p_Δ(i, target), an embedding of its
temporal distance to the target, and the target ṽ_t = v_t ⊕ p_Δ(target, target). Target-aware attention
α_i = softmax_i(ẽ_iᵀ W ṽ_t / √d) over real behaviours, target-aware representation u = Σ α_i (ẽ_i ⊙ ṽ_t).
The tower (DNN settings) sees every flat field and u, as the zoo's DIN does.

Assumed: ⊕ is addition (ẽ_i ⊙ ṽ_t needs equal widths); p_Δ reads the relative position (``temporal:
position``: the most recent behaviour 1, the target 0) or the bucketised age (``temporal: age``: ⌊hist_age /
age_bucket_width⌋ of log1p hours, the last bucket open-ended, the target bucket 0); ``temporal: none`` drops it.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from mmrec.features.layer import EMBED_INIT_STD
from mmrec.models.zoo.base import ZooModel, mlp
from mmrec.models.zoo.history import HistoryConfig, HistoryReader

TEMPORAL = ("position", "age", "none")


@dataclasses.dataclass
class TIMConfig(HistoryConfig):
    temporal: str = "position"       # what p_Δ encodes: position / age / none
    history_age: str = "hist_age"    # numeric sub-field read by temporal: age
    age_buckets: int = 32
    age_bucket_width: float = 0.5    # in log1p hours


class TIM(ZooModel):
    model_type = "zoo_tim"
    config_class = TIMConfig

    def __init__(self, config: TIMConfig, feature_map, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        if config.temporal not in TEMPORAL:
            raise ValueError(f"temporal '{config.temporal}' is not one of {', '.join(TEMPORAL)}")
        self.history = HistoryReader(self.features, config)
        self.age_keys = (self.history.extra_keys([config.history_age], "numeric", "history_age")
                         if config.temporal == "age" else [])
        width = self.history.width
        rows = {"position": config.max_history + 1, "age": config.age_buckets + 1}.get(config.temporal)
        self.temporal = nn.Embedding(rows, width) if rows else None
        if self.temporal is not None:
            nn.init.normal_(self.temporal.weight, std=EMBED_INIT_STD)
        self.bilinear = nn.Parameter(torch.eye(width))
        self.tower = mlp(self.features.num_fields * config.embed_dim + width, config)

    def distances(self, emb, mask: torch.Tensor) -> torch.Tensor:
        """(B, H) index of p_Δ per behaviour (the target's is 0)."""
        if self.config.temporal == "position":
            return self.history.recency(mask).expand_as(mask)
        age = self.history.recent(emb, self.age_keys)[..., 0]
        bucket = torch.floor(age / self.config.age_bucket_width).long().clamp(0, self.config.age_buckets - 1)
        return bucket + 1

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        emb = self.features(batch)
        target = self.history.target(emb)
        keys, mask = self.history.behaviours(emb)
        if self.temporal is not None:
            keys = keys + self.temporal(self.distances(emb, mask))
            target = target + self.temporal.weight[0]
        scores = torch.einsum("bhd,de,be->bh", keys, self.bilinear, target) / math.sqrt(keys.shape[-1])
        weights = scores.masked_fill(~mask, -1e9).softmax(-1) * mask
        interest = (weights.unsqueeze(-1) * keys * target.unsqueeze(1)).sum(1)
        return self.tower(torch.cat([emb.flat.flatten(1), interest], 1)).squeeze(-1)

"""DIN (Zhou et al. 2018) on the typed feature layer: target attention over the behaviour sequence.

Each behaviour k_i gets the weight a_i = MLP([q, k_i, q − k_i, q ⊙ k_i]) against the candidate q (Dice in the
attention MLP, no softmax, as the paper and FuxiCTR's default); the interest u = Σ a_i k_i over real events joins
every flat field's embedding in the MLP tower (DNN settings), one linear head.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from mmrec.models.zoo.base import ZooModel, mlp
from mmrec.models.zoo.history import HistoryConfig, HistoryReader


class Dice(nn.Module):
    """DIN's data-adaptive activation: p(x)·x + (1 − p(x))·α·x, p = σ(batch-normalised x)."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(dim, affine=False, eps=1e-9)
        self.alpha = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(self.norm(x.reshape(-1, x.shape[-1])).reshape(x.shape))
        return p * x + (1 - p) * self.alpha * x


class TargetAttention(nn.Module):
    """The DIN activation unit: a weight per behaviour from [q, k, q − k, q ⊙ k]; padded events weigh 0."""

    def __init__(self, width: int, hidden_units: list[int], softmax: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        size = 4 * width
        for units in hidden_units:
            layers += [nn.Linear(size, units), Dice(units)]
            size = units
        layers.append(nn.Linear(size, 1))
        self.score, self.softmax = nn.Sequential(*layers), softmax

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q = query.unsqueeze(1).expand_as(keys)
        weights = self.score(torch.cat([q, keys, q - keys, q * keys], -1)).squeeze(-1)
        if self.softmax:
            weights = weights.masked_fill(~mask, -1e9).softmax(-1)
        return (weights * mask).unsqueeze(-1).mul(keys).sum(1)


@dataclasses.dataclass
class DINConfig(HistoryConfig):
    attention_units: list[int] = dataclasses.field(default_factory=lambda: [64])
    attention_softmax: bool = False


class DIN(ZooModel):
    model_type = "zoo_din"
    config_class = DINConfig

    def __init__(self, config: DINConfig, feature_map, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        self.history = HistoryReader(self.features, config)
        self.attention = TargetAttention(self.history.width, config.attention_units, config.attention_softmax)
        self.tower = mlp(self.features.num_fields * config.embed_dim + self.history.width, config)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        emb = self.features(batch)
        keys, mask = self.history.behaviours(emb)
        interest = self.attention(self.history.target(emb), keys, mask)
        return self.tower(torch.cat([emb.flat.flatten(1), interest], 1)).squeeze(-1)

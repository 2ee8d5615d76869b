"""DCNv2 (Wang et al. 2021): a full-rank cross network x_{l+1} = x_0 ⊙ (W_l x_l + b_l) + x_l beside (parallel)
or before (stacked) an MLP, on the flattened field embeddings; one linear head on the result."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from mmrec.models.zoo.base import MLPConfig, ZooModel, mlp, mlp_width


class CrossNetV2(nn.Module):
    """``layers`` full-rank cross layers on (B, D) inputs."""

    def __init__(self, dim: int, layers: int):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(dim, dim) for _ in range(layers))
        for layer in self.layers:
            nn.init.xavier_normal_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for layer in self.layers:
            x = x0 * layer(x) + x
        return x


@dataclasses.dataclass
class DCNv2Config(MLPConfig):
    cross_layers: int = 3
    structure: str = "parallel"  # or "stacked"

    def validate(self) -> None:
        if self.structure not in ("parallel", "stacked"):
            raise ValueError(f"structure '{self.structure}' is not 'parallel' or 'stacked'")


class DCNv2(ZooModel):
    model_type = "zoo_dcnv2"
    config_class = DCNv2Config

    def __init__(self, config: DCNv2Config, feature_map, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        config.validate()
        dim = self.features.num_fields * config.embed_dim
        self.cross = CrossNetV2(dim, config.cross_layers)
        self.tower = mlp(dim, config, output_dim=None)
        width = mlp_width(dim, config) + (dim if config.structure == "parallel" else 0)
        self.head = nn.Linear(width, 1)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        x = self.features(batch).flat.flatten(1)
        crossed = self.cross(x)
        if self.config.structure == "stacked":
            return self.head(self.tower(crossed)).squeeze(-1)
        return self.head(torch.cat([crossed, self.tower(x)], 1)).squeeze(-1)

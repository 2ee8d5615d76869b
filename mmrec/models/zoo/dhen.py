"""DHEN (Zhang et al. 2022, "DHEN: a deep and hierarchical ensemble network for large-scale CTR prediction";
ZOO.md §2, [paper]): stacked layers X_{n+1} = LayerNorm(Ensemble_i M_i(X_n) + ShortCut(X_n)) over the (m × d)
field embeddings X_0, then an MLP head.

Every module maps (B, m, d) to (B, m, d), so layers stack and any set of modules ensembles:

- ``mlp``: one ReLU layer on the flattened fields;
- ``dcn``: one DCNv2 full-rank cross term x ⊙ (W x + b) on the flattened fields (the shortcut adds x);
- ``transformer``: a Transformer encoder layer over the m field tokens (``attention_heads`` heads, FFN 4d);
- ``dot``: the m(m−1)/2 pairwise dot products, projected to m·d;
- ``conv``: a width-3 convolution along the field axis (d channels), then ReLU.

Ensemble ``concat``: the modules' outputs side by side per field, projected back to d (the paper's concat +
projection); ``sum``: their sum. Shortcut ``identity`` or ``linear`` (on the flattened fields). Assumed where the
summary is silent: LayerNorm over each sample's whole (m, d) layer; the transformer's own residual and norms kept.
:class:`DHENBackbone` is the layers alone (X_0 -> flattened X_L), reusable under other heads (multi-task towers).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from mmrec.features.feature_map import FeatureMap
from mmrec.models.zoo.base import MLPConfig, ZooModel, mlp

MODULES = ("mlp", "dcn", "transformer", "dot", "conv")
ENSEMBLES = ("concat", "sum")
SHORTCUTS = ("identity", "linear")


class _Flat(nn.Module):
    """A map of the flattened fields (B, m·d) -> (B, m·d), reshaped back to (B, m, d)."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.flatten(1)).view_as(x)


class CrossTerm(nn.Module):
    """x ⊙ (W x + b): one DCNv2 cross layer without its residual (the DHEN shortcut supplies it)."""

    def __init__(self, width: int):
        super().__init__()
        self.linear = nn.Linear(width, width)
        nn.init.xavier_normal_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.linear(x)


class DotProducts(nn.Module):
    """<x_i, x_j> for i < j, (B, m(m−1)/2), projected to (B, m·d)."""

    def __init__(self, num_fields: int, dim: int):
        super().__init__()
        left, right = torch.triu_indices(num_fields, num_fields, offset=1)
        self.register_buffer("left", left, persistent=False)
        self.register_buffer("right", right, persistent=False)
        self.project = nn.Linear(len(left), num_fields * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dots = (x[:, self.left] * x[:, self.right]).sum(-1)
        return self.project(dots).view_as(x)


class FieldConv(nn.Module):
    """ReLU(Conv1d) along the field axis, d channels in and out, width 3 (same length)."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)


def build_module(name: str, num_fields: int, dim: int, attention_heads: int) -> nn.Module:
    width = num_fields * dim
    if name == "mlp":
        return _Flat(nn.Sequential(nn.Linear(width, width), nn.ReLU()))
    if name == "dcn":
        return _Flat(CrossTerm(width))
    if name == "transformer":
        return nn.TransformerEncoderLayer(dim, attention_heads, 4 * dim, dropout=0.0, batch_first=True)
    if name == "dot":
        return DotProducts(num_fields, dim)
    return FieldConv(dim)


class DHENLayer(nn.Module):
    """X -> LayerNorm(Ensemble_i M_i(X) + ShortCut(X)), shapes (B, m, d) in and out."""

    def __init__(self, num_fields: int, dim: int, modules: list[str], ensemble: str, shortcut: str,
                 attention_heads: int):
        super().__init__()
        self.blocks = nn.ModuleList(build_module(name, num_fields, dim, attention_heads) for name in modules)
        self.project = nn.Linear(len(modules) * dim, dim) if ensemble == "concat" else None
        self.shortcut = _Flat(nn.Linear(num_fields * dim, num_fields * dim)) if shortcut == "linear" else None
        self.norm = nn.LayerNorm([num_fields, dim])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [block(x) for block in self.blocks]
        mixed = self.project(torch.cat(outputs, -1)) if self.project is not None else torch.stack(outputs).sum(0)
        return self.norm(mixed + (self.shortcut(x) if self.shortcut is not None else x))


@dataclasses.dataclass
class DHENBackboneConfig:
    modules: list[str] = dataclasses.field(default_factory=lambda: ["dcn", "dot"])
    layers: int = 2
    ensemble: str = "concat"
    shortcut: str = "identity"
    attention_heads: int = 1

    def validate(self) -> None:
        unknown = [m for m in self.modules if m not in MODULES]
        if unknown or not self.modules:
            raise ValueError(f"DHEN module '{unknown[0] if unknown else ''}' is not one of {', '.join(MODULES)}")
        if self.ensemble not in ENSEMBLES:
            raise ValueError(f"DHEN ensemble '{self.ensemble}' is not one of {', '.join(ENSEMBLES)}")
        if self.shortcut not in SHORTCUTS:
            raise ValueError(f"DHEN shortcut '{self.shortcut}' is not one of {', '.join(SHORTCUTS)}")
        if self.layers < 1:
            raise ValueError(f"DHEN layers must be >= 1, got {self.layers}")


class DHENBackbone(nn.Module):
    """``layers`` :class:`DHENLayer` on X_0 (B, m, d); returns the flattened last layer (B, m·d)."""

    def __init__(self, num_fields: int, dim: int, config: DHENBackboneConfig):
        super().__init__()
        config.validate()
        self.output_dim = num_fields * dim
        self.layers = nn.ModuleList(DHENLayer(num_fields, dim, list(config.modules), config.ensemble,
                                              config.shortcut, config.attention_heads) for _ in range(config.layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x.flatten(1)


@dataclasses.dataclass
class DHENConfig(MLPConfig, DHENBackboneConfig):
    """The backbone's choices (default: 2 layers of {DCN, dot}, the claim's model) and the MLP head's shape."""


class DHEN(ZooModel):
    """The feature layer, :class:`DHENBackbone`, an MLP head."""

    model_type = "zoo_dhen"
    config_class = DHENConfig

    def __init__(self, config: DHENConfig, feature_map: FeatureMap, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        self.backbone = DHENBackbone(self.features.num_fields, config.embed_dim, config)
        self.tower = mlp(self.backbone.output_dim, config)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.tower(self.backbone(self.features(batch).flat)).squeeze(-1)

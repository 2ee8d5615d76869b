"""APG (adaptive parameter generation): each MLP layer's weight is specialised per sample by a hypernetwork.

For a layer h ∈ R^N -> R^M: ``y = act(((h U) S(z)) V + b(z))`` with U (N×K), V (K×M) shared by all samples and a
hypernet MLP mapping the condition z to ``[b(z); vec S(z)]`` (the M bias values first, the K² entries of S after;
no batch norm, no output activation). The condition is the layer's own input (``self``: z = h) or the flattened
embeddings of named condition fields (``group``: e.g. a domain or user-group field). Over-parameterisation trains
U = U_l U_r, V = V_l V_r through a wider P (P > K); :meth:`APGLinear.merge` folds the factors into U, V after
training (the outputs stay the same; the model gets smaller and faster).

Defaults are FuxiCTR's YAML template (K 8, P 64, hypernet [64, 32]), not its class defaults (K 32, P 1024), so a
model trains on CPU in seconds.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from mmrec.features.feature_map import FeatureMap
from mmrec.models.dropout import Dropout
from mmrec.models.zoo.base import MLPConfig, ZooModel, mlp, mlp_width
from mmrec.models.zoo.dcnv2 import CrossNetV2
from mmrec.models.zoo.fm import pairwise_interaction

CONDITION_MODES = ("self", "group")


@dataclasses.dataclass
class APGConfig(MLPConfig):
    """The backbone's MLP shape plus APG's: rank K, over-parameterisation width P (0 = none), the condition."""

    rank_k: int = 8
    overparam_p: int = 64
    condition_mode: str = "self"  # "self": z = the layer's input; "group": z = the condition fields' embeddings
    condition_fields: list[str] = dataclasses.field(default_factory=list)
    hypernet_units: list[int] = dataclasses.field(default_factory=lambda: [64, 32])


class APGLinear(nn.Module):
    """``y = ((h U) S(z)) V + b(z)``; with ``overparam_p`` > 0, U and V are trained as products of two factors."""

    def __init__(self, input_dim: int, output_dim: int, condition_dim: int, rank_k: int, overparam_p: int,
                 hypernet_units: list[int]):
        super().__init__()
        if not 0 < rank_k <= min(input_dim, output_dim):
            raise ValueError(f"APG rank_k={rank_k} must lie in 1..min(input, output) = {min(input_dim, output_dim)}")
        if overparam_p and overparam_p <= rank_k:
            raise ValueError(f"APG overparam_p={overparam_p} must exceed rank_k={rank_k} (or be 0: none)")
        self.output_dim, self.rank_k = output_dim, rank_k
        if overparam_p:
            self.U_l, self.U_r = _param(input_dim, overparam_p), _param(overparam_p, rank_k)
            self.V_l, self.V_r = _param(rank_k, overparam_p), _param(overparam_p, output_dim)
        else:
            self.U, self.V = _param(input_dim, rank_k), _param(rank_k, output_dim)
        shape = MLPConfig(hidden_units=list(hypernet_units), dropout=0.0, batch_norm=False)
        self.hypernet = mlp(condition_dim, shape, output_dim + rank_k * rank_k)

    @property
    def merged(self) -> bool:
        return "U" in self._parameters

    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """U (N×K) and V (K×M), folded from their factors when the layer is over-parameterised."""
        if self.merged:
            return self.U, self.V
        return self.U_l @ self.U_r, self.V_l @ self.V_r

    def generate(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """b(z) (B, M) and S(z) (B, K, K) from the hypernet's output ``[b; vec S]``.

        The hypernet reads z layer-normalised (no learned scale): a condition made of field embeddings starts at
        their init scale (std 1e-4), where S(z) is 1e-4 of its unit-input size, APG's product term ~1e-8 and its
        gradient into the embeddings vanishing. On ml-100k CTR one seed in three of self-wise APG-DNN then never
        left chance (valid AUC 0.51 after 3 epochs); with the normalised condition the same seed reaches 0.752.
        FuxiCTR feeds z as it is. The epsilon is far below 1e-4's variance (1e-8), so the normalisation is
        scale-free at that init too."""
        out = self.hypernet(F.layer_norm(z, z.shape[-1:], eps=1e-12))
        return out[:, :self.output_dim], out[:, self.output_dim:].reshape(-1, self.rank_k, self.rank_k)

    def forward(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        bias, s = self.generate(z)
        u, v = self.factors()
        return torch.bmm((h @ u).unsqueeze(1), s).squeeze(1) @ v + bias

    @torch.no_grad()
    def merge(self) -> None:
        """Replace U_l, U_r, V_l, V_r by U = U_l U_r and V = V_l V_r (no-op when already merged)."""
        if self.merged:
            return
        u, v = self.factors()
        for name in ("U_l", "U_r", "V_l", "V_r"):
            delattr(self, name)
        self.U, self.V = nn.Parameter(u.clone()), nn.Parameter(v.clone())


def _param(rows: int, cols: int) -> nn.Parameter:
    return nn.Parameter(nn.init.xavier_normal_(torch.empty(rows, cols)))


class APGMLP(nn.Module):
    """The zoo's MLP tower (:func:`mmrec.models.zoo.base.mlp`) with every hidden Linear an :class:`APGLinear`:
    APG layer -> BatchNorm -> ReLU -> Dropout as ``config`` says, then a static linear output."""

    def __init__(self, input_dim: int, config: APGConfig, condition_dim: int = 0, output_dim: int | None = 1):
        super().__init__()
        if config.condition_mode not in CONDITION_MODES:
            raise ValueError(f"APG condition_mode '{config.condition_mode}' is not one of {', '.join(CONDITION_MODES)}")
        self.self_wise = config.condition_mode == "self"
        self.layers, self.post = nn.ModuleList(), nn.ModuleList()
        width = input_dim
        for units in config.hidden_units:
            self.layers.append(APGLinear(width, units, width if self.self_wise else condition_dim, config.rank_k,
                                         config.overparam_p, config.hypernet_units))
            self.post.append(nn.Sequential(*([nn.BatchNorm1d(units)] if config.batch_norm else []), nn.ReLU(),
                                           *([Dropout(config.dropout)] if config.dropout > 0 else [])))
            width = units
        self.out = nn.Linear(width, output_dim) if output_dim is not None else None
        if self.out is not None:
            nn.init.xavier_normal_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, h: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        for layer, post in zip(self.layers, self.post):
            h = post(layer(h, h if self.self_wise else z))
        return self.out(h) if self.out is not None else h

    def merge(self) -> None:
        for layer in self.layers:
            layer.merge()


class _APGModel(ZooModel):
    """Shared by the APG models: the condition vector from the field embeddings, and :meth:`merge`."""

    config_class = APGConfig

    def _tower(self, config: APGConfig, input_dim: int | None = None, output_dim: int | None = 1) -> APGMLP:
        names = self.features.field_names
        if config.condition_mode == "group":
            if not config.condition_fields:
                raise ValueError("APG condition_mode 'group' needs condition_fields (e.g. a domain field)")
            unknown = [f for f in config.condition_fields if f not in names]
            if unknown:
                raise ValueError(f"APG condition field '{unknown[0]}' is not a flat field of the feature map "
                                 f"({', '.join(names)})")
        self.condition_index = [names.index(f) for f in config.condition_fields]
        return APGMLP(input_dim or self.features.num_fields * config.embed_dim, config,
                      len(self.condition_index) * config.embed_dim, output_dim)

    def apg_tower(self, emb: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """The tower on ``h`` (default: the flattened field embeddings ``(B, F, d)``), conditioned on ``emb``'s
        condition fields: logits (B,), or the last hidden layer when the tower has no output layer."""
        z = emb[:, self.condition_index].flatten(1) if not self.tower.self_wise else None
        out = self.tower(emb.flatten(1) if h is None else h, z)
        return out.squeeze(-1) if self.tower.out is not None else out

    def merge(self) -> None:
        """Fold the over-parameterised factors into U, V; the config then says ``overparam_p = 0`` so a saved
        merged model rebuilds with the merged shapes."""
        self.tower.merge()
        self.config = dataclasses.replace(self.config, overparam_p=0)


class APGDNN(_APGModel):
    """DNN with an APG tower: the flattened field embeddings through :class:`APGMLP`."""

    model_type = "zoo_apg_dnn"

    def __init__(self, config: APGConfig, feature_map: FeatureMap, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        self.tower = self._tower(config)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.apg_tower(self.features(batch).flat)


class APGDeepFM(_APGModel):
    """DeepFM with an APG tower: FM (first order + pairwise) plus :class:`APGMLP` on the same embeddings."""

    model_type = "zoo_apg_deepfm"
    first_order = True

    def __init__(self, config: APGConfig, feature_map: FeatureMap, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        self.tower = self._tower(config)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = self.features.pack(batch)
        emb = self.features(batch).flat
        return self.features.first_order(batch) + pairwise_interaction(emb) + self.apg_tower(emb)


@dataclasses.dataclass
class APGDCNv2Config(APGConfig):
    """DCNv2's cross network and structure (:class:`mmrec.models.zoo.dcnv2.DCNv2Config`) with an APG tower."""

    cross_layers: int = 3
    structure: str = "parallel"  # or "stacked": the APG tower reads the cross network's output

    def validate(self) -> None:
        if self.structure not in ("parallel", "stacked"):
            raise ValueError(f"structure '{self.structure}' is not 'parallel' or 'stacked'")


class APGDCNv2(_APGModel):
    """DCNv2 whose MLP is an :class:`APGMLP` (ZOO.md §2: APG wraps the MLP of DNN / DeepFM / DCNv2); the cross
    network stays static. Parallel: head([cross(x); APG(x)]); stacked: head(APG(cross(x)))."""

    model_type = "zoo_apg_dcnv2"
    config_class = APGDCNv2Config

    def __init__(self, config: APGDCNv2Config, feature_map: FeatureMap, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        config.validate()
        dim = self.features.num_fields * config.embed_dim
        self.cross = CrossNetV2(dim, config.cross_layers)
        self.tower = self._tower(config, dim, output_dim=None)
        self.head = nn.Linear(mlp_width(dim, config) + (dim if config.structure == "parallel" else 0), 1)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        emb = self.features(batch).flat
        x = emb.flatten(1)
        crossed = self.cross(x)
        if self.config.structure == "stacked":
            return self.head(self.apg_tower(emb, crossed)).squeeze(-1)
        return self.head(torch.cat([crossed, self.apg_tower(emb, x)], 1)).squeeze(-1)

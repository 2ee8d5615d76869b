"""What every zoo model shares: feature layer in, one interaction module, one head; loss apart from scoring.

A zoo model is built from its config dataclass and a fitted :class:`FeatureMap`; it saves to a Hub folder with
that map (``config.json``'s ``init_args``), so a loaded model encodes raw events itself:
``model.predict(list_of_dicts_or_DataFrame)`` returns click probabilities.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from mmrec.core.hub_mixin import HubMixin
from mmrec.features.feature_map import FeatureMap
from mmrec.features.layer import FeatureLayer
from mmrec.models.dropout import Dropout
from mmrec.models.zoo.heads import TwoLogitHead, click_logit

PREDICT_BATCH = 65_536


@dataclasses.dataclass
class ZooConfig:
    """Settings every zoo model has (BARS defaults: embedding 10; regulariser ½λ‖E‖² per step, as FuxiCTR)."""

    embed_dim: int = 10
    embedding_regularizer: float = 0.0
    label: str = ""  # which label of the feature map the model predicts ("" = the first)
    two_logit: bool = False  # score (B, 2) = [z_neg, z_pos] for the JRC loss (heads.TwoLogitHead)


@dataclasses.dataclass
class MLPConfig(ZooConfig):
    """An MLP tower's shape (Linear -> BatchNorm -> ReLU -> Dropout per hidden layer)."""

    hidden_units: list[int] = dataclasses.field(default_factory=lambda: [400, 400, 400])
    dropout: float = 0.2
    batch_norm: bool = True


def mlp(input_dim: int, config: MLPConfig, output_dim: int | None = 1) -> nn.Sequential:
    """The tower: hidden layers as ``config`` says, then a linear output (none when ``output_dim`` is None)."""
    layers: list[nn.Module] = []
    width = input_dim
    for units in config.hidden_units:
        layers.append(nn.Linear(width, units))
        if config.batch_norm:
            layers.append(nn.BatchNorm1d(units))
        layers.append(nn.ReLU())
        if config.dropout > 0:
            layers.append(Dropout(config.dropout))
        width = units
    if output_dim is not None:
        layers.append(nn.Linear(width, output_dim))
    for layer in layers:
        if isinstance(layer, nn.Linear):
            nn.init.xavier_normal_(layer.weight)
            nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


def mlp_width(input_dim: int, config: MLPConfig) -> int:
    return config.hidden_units[-1] if config.hidden_units else input_dim


class ZooModel(HubMixin, nn.Module):
    """Base: ``forward(batch) -> logits (B,)``, ``loss(logits, labels)``, ``predict(rows) -> probabilities``.
    With ``config.two_logit`` the model's output is (B, 2) ``[z_neg, z_pos]`` (:class:`TwoLogitHead` on top of
    the subclass's forward), and the click probability σ(z_pos − z_neg)."""

    task = "ctr"
    config_class: ClassVar[type] = ZooConfig
    first_order: ClassVar[bool] = False  # whether the feature layer carries first-order (LR) weights

    def __init__(self, config: Any, feature_map: FeatureMap, pretrained: dict[str, torch.Tensor] | None = None):
        super().__init__()
        self.config, self.feature_map = config, feature_map
        labels = feature_map.labels
        if config.label and config.label not in labels:
            raise ValueError(f"label '{config.label}' is not a label of the feature map ({', '.join(labels)})")
        self.label = config.label or (labels[0] if labels else "")
        self.features = FeatureLayer(feature_map, config.embed_dim, pretrained, linear=self.first_order)
        self.features.read_only_declared_sequences()  # sequences reach a zoo model through a HistoryReader
        self.two_logit_head = (TwoLogitHead(self.features.num_fields * config.embed_dim)
                               if config.two_logit else None)

    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.two_logit_head is None:
            return super().__call__(batch)
        # the head reads the feature layer's output of this very batch: kept from the forward's own pass (a hook),
        # not recomputed, so the embedding lookups run once
        batch, seen = self.features.pack(batch), []  # packed here, so the forward's own pass sees this very dict
        handle = self.features.register_forward_hook(
            lambda _module, args, out: seen.append(out) if args and args[0] is batch and not seen else None)
        try:
            logits = super().__call__(batch)
        finally:
            handle.remove()
        return self.two_logit_head((seen[0] if seen else self.features(batch)).flat, logits)

    def hub_init_args(self) -> dict[str, Any]:
        return {"feature_map": self.feature_map.to_dict()}

    @classmethod
    def hub_rebuild_args(cls, init_args: dict[str, Any], config: Any) -> dict[str, Any]:
        return {"feature_map": FeatureMap.from_dict(init_args["feature_map"], "config.json init_args.feature_map")}

    def check_feature_map(self, feature_map: FeatureMap, source: str) -> None:
        """A feature map meeting this model: one error naming the first field whose vocabulary size differs."""
        feature_map.check_sizes(self.features.table_sizes(), source)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"loss": BCE + λ·½‖E‖², "bce": BCE}``; only ``loss`` is back-propagated."""
        bce = F.binary_cross_entropy_with_logits(click_logit(logits), labels)
        total = bce
        if self.config.embedding_regularizer:
            total = total + self.config.embedding_regularizer * self.features.regularization()
        return {"loss": total, "bce": bce}

    @torch.no_grad()
    def predict(self, data: pd.DataFrame | list[dict[str, Any]] | dict[str, torch.Tensor],
                batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """Click probabilities for raw rows (encoded with the saved feature map) or already-encoded tensors."""
        if not isinstance(data, dict):
            data = self.feature_map.encode(data, labels=False)
        data = self.features.pack(data)
        was_training = self.training
        self.eval()
        n = next(iter(data.values())).shape[0]
        out = [torch.sigmoid(click_logit(self({k: v[i:i + batch_size] for k, v in data.items()})))
               for i in range(0, n, batch_size)]
        self.train(was_training)
        return torch.cat(out).float().numpy() if out else np.zeros(0, dtype=np.float32)

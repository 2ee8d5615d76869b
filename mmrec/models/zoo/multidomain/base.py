"""Multi-task and multi-domain zoo models (ZOO.md §4): one logit per label, each sample routed to its domain's parts.

A :class:`MultiTaskModel` predicts every label of ``config.labels`` (empty: the model's one ``label``) as a
``(B, T)`` logit matrix in :meth:`MultiTaskModel.outputs`, beside any auxiliary losses of the forward (Crocodile's
covariance loss); ``forward`` / ``predict`` give the first label, so a multi-task model is also a plain zoo model.
A :class:`MultiDomainModel` also reads the domain of each sample from the feature map's ``domain`` field named by
``config.domain_field`` (empty: the first one) and sends it to that domain's parts (towers, gates, experts: the
ModuleLists of :meth:`MultiDomainModel.domain_parts`, one entry per domain value). A domain value unseen in
training (out-of-vocabulary / missing) gets the mean of every domain's logits. ``forced_domain`` routes every
sample to one domain's parts: D-Train's all-domain pre-training with one head (:mod:`mmrec.train.dtrain`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from mmrec.features.feature_map import FeatureMap
from mmrec.features.layer import PACKED
from mmrec.models.zoo.base import PREDICT_BATCH, MLPConfig, ZooModel, mlp

KNOWN = 2  # local index of a field's first vocabulary value (0 = padding, 1 = out-of-vocabulary)


@dataclasses.dataclass
class MultiTaskConfig(MLPConfig):
    """``labels``: the labels predicted, one logit each (empty: ``[label]``, the first label by default);
    ``hidden_units`` shape the shared part (bottom / experts), ``tower_units`` each head."""

    labels: list[str] = dataclasses.field(default_factory=list)
    tower_units: list[int] = dataclasses.field(default_factory=lambda: [64])


@dataclasses.dataclass
class MultiDomainConfig(MultiTaskConfig):
    domain_field: str = ""  # the `domain` field samples are routed on ("" = the feature map's first)


@dataclasses.dataclass
class ZooOutputs:
    """``logits`` (B, T), one column per task; ``aux``: named auxiliary losses (already weighted)."""

    logits: torch.Tensor
    aux: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)


def tower_config(config: MultiTaskConfig) -> MLPConfig:
    """A head's shape: ``tower_units``, the model's dropout, no batch norm (a domain may have one row a batch)."""
    return MLPConfig(hidden_units=list(config.tower_units), dropout=config.dropout, batch_norm=False)


class MultiTaskModel(ZooModel):
    """Base of the multi-task zoo: ``outputs(batch) -> ZooOutputs``, ``task_loss``, ``predict_tasks``."""

    config_class = MultiTaskConfig

    def __init__(self, config: MultiTaskConfig, feature_map: FeatureMap, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        unknown = [name for name in config.labels if name not in feature_map.labels]
        if unknown:
            raise ValueError(f"labels {unknown} are not labels of the feature map ({', '.join(feature_map.labels)})")
        if len(set(config.labels)) != len(config.labels):
            raise ValueError(f"labels {config.labels} name a label twice")
        self.tasks: list[str] = list(config.labels) or [self.label]
        self.label = self.tasks[0]

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    def outputs(self, batch: dict[str, torch.Tensor]) -> ZooOutputs:
        raise NotImplementedError

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.outputs(batch).logits[:, 0]

    def task_loss(self, outputs: ZooOutputs, labels: torch.Tensor, weights: dict[str, float] | None = None
                  ) -> dict[str, torch.Tensor]:
        """``{"loss": Σ_t w_t BCE_t + aux + λ·½‖E‖², "bce": mean BCE, "bce_<task>", <aux names>}``; labels (B, T)."""
        per_task = F.binary_cross_entropy_with_logits(outputs.logits, labels, reduction="none").mean(0)
        w = torch.tensor([(weights or {}).get(t, 1.0) for t in self.tasks], dtype=per_task.dtype)
        total = (w * per_task).sum()
        for value in outputs.aux.values():
            total = total + value
        if self.config.embedding_regularizer:
            total = total + self.config.embedding_regularizer * self.regularization()
        out = {"loss": total, "bce": per_task.mean(), **outputs.aux}
        out.update({f"bce_{t}": per_task[k] for k, t in enumerate(self.tasks)})
        return out

    def regularization(self) -> torch.Tensor:
        """½‖E‖² over every embedding set of the model (multi-embedding models add theirs)."""
        return self.features.regularization()

    @torch.no_grad()
    def predict_tasks(self, data: pd.DataFrame | list[dict[str, Any]] | dict[str, torch.Tensor],
                      batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """Probabilities (N, T) of every task, columns in ``self.tasks`` order."""
        if not isinstance(data, dict):
            data = self.feature_map.encode(data, labels=False)
        data = self.features.pack({k: v for k, v in data.items() if k not in self.feature_map.labels})
        was_training = self.training
        self.eval()
        n = next(iter(data.values())).shape[0]
        out = [torch.sigmoid(self.outputs({k: v[i:i + batch_size] for k, v in data.items()}).logits)
               for i in range(0, n, batch_size)]
        self.train(was_training)
        return torch.cat(out).float().numpy() if out else np.zeros((0, self.num_tasks), dtype=np.float32)


def domain_entry_name(config: MultiDomainConfig, feature_map: FeatureMap) -> str:
    domains = [e.name for e in feature_map.features if e.role == "domain"]
    if not domains:
        raise ValueError("the feature map has no field of type 'domain'; a multi-domain model routes on one")
    if config.domain_field and config.domain_field not in domains:
        raise ValueError(f"domain_field '{config.domain_field}' is not a domain field of the feature map "
                         f"({', '.join(domains)})")
    return config.domain_field or domains[0]


class MultiDomainModel(MultiTaskModel):
    """Base of the multi-domain zoo: ``domains(batch)`` and ``route`` (per-domain towers on per-domain inputs)."""

    config_class = MultiDomainConfig

    def __init__(self, config: MultiDomainConfig, feature_map: FeatureMap, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        self.domain_field = domain_entry_name(config, feature_map)
        self.domain_values: list[str] = list(feature_map.entry(self.domain_field).vocab)
        self.n_domains = len(self.domain_values)
        self._domain_column = self.features.categorical.index(self.domain_field)
        self.forced_domain: int | None = None

    def make_towers(self, input_dim: int) -> nn.ModuleList:
        """One head per domain, ``num_tasks`` logits each."""
        return nn.ModuleList(mlp(input_dim, tower_config(self.config), self.num_tasks)
                             for _ in range(self.n_domains))

    def domain_parts(self) -> list[nn.ModuleList]:
        """The per-domain ModuleLists (entry d serves domain d); everything else is the shared backbone."""
        return [self.towers]

    def sample_domains(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B,) domain of each sample: 0..n_domains-1, -1 where the value was unseen in training."""
        packed = self.features.pack(batch)[PACKED][:, self._domain_column]
        local = torch.where(packed > 0, packed - self.features.offsets[self.domain_field], 0)
        return torch.where(local >= KNOWN, local - KNOWN, -1)

    def domains(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B,) the domain whose parts score each sample: its own, or ``forced_domain`` where that is set."""
        own = self.sample_domains(batch)
        return own if self.forced_domain is None else torch.full_like(own, self.forced_domain)

    def route(self, domains: torch.Tensor, head_input: Callable[[int, torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """(B, T) logits: rows of domain d through ``towers[d](head_input(d, rows))``; unseen domains get the mean
        of every domain's logits. Each tower sees its own domain's rows only (gradient included)."""
        logits = self.towers[0][-1].weight.new_zeros(domains.shape[0], self.num_tasks)
        unknown = (domains < 0).nonzero().squeeze(1)
        for d, tower in enumerate(self.towers):
            rows = (domains == d).nonzero().squeeze(1)
            parts = [(rows, tower(head_input(d, rows)))] if rows.numel() else []
            if unknown.numel():
                parts.append((unknown, tower(head_input(d, unknown)) / self.n_domains))
            for idx, value in parts:
                logits = logits.index_add(0, idx, value)
        return logits

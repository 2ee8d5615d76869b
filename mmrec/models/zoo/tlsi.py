"""Time Matters / TLSI on the typed feature layer (ZOO.md §3, [paper]): time-aware long- and short-term interest.

Long-term interest: attention over the recent ``max_history`` behaviours whose score adds a content term
(projected target · projected behaviour) and a time term: the *periodic* pattern, prediction-time context
embeddings (``when.hour``, ``when.weekday``) projected against each behaviour's own (``hist_hour``,
``hist_weekday``), plus the *time-point* pattern, a small MLP of the behaviour's age (``hist_age``, log1p hours
before the prediction). Short-term interest: an LSTM over the last ``short_history`` behaviours whose cell update
passes a time gate T_i = σ(W x_i + V Δ_i + b), Δ_i = (log1p hours since the previous behaviour, age) (Time-LSTM's
gate, one gate: our reading of "gates modulated by Δt"). Fusion u = g ⊙ u_long + (1 − g) ⊙ u_short,
g = σ(W_g [u_long, u_short, target]). The tower (DNN settings) sees every flat field and u, as the zoo's DIN does.

Assumed where the paper is not specific: scaled dot-product scores on d-wide projections, a softmax over real
events, the gap of the oldest behaviour 0. ``time_term: false`` keeps only the content term (the ablation).
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from mmrec.models.zoo.base import ZooModel, mlp
from mmrec.models.zoo.history import HistoryConfig, HistoryReader

MASKED = -1e9


@dataclasses.dataclass
class TLSIConfig(HistoryConfig):
    time_target_fields: list[str] = dataclasses.field(default_factory=lambda: ["when.hour", "when.weekday"])
    time_history_fields: list[str] = dataclasses.field(default_factory=lambda: ["hist_hour", "hist_weekday"])
    history_age: str = "hist_age"    # numeric sub-field: log1p hours between the behaviour and the prediction
    time_term: bool = True           # False: the long-term score is the content term alone
    short_history: int = 10          # behaviours the Δt-gated LSTM reads
    attention_dim: int = 0           # width of the score projections (0 = a behaviour vector's width)


def log_hours_between(age: torch.Tensor) -> torch.Tensor:
    """(B, H) log1p hours from each behaviour to the next older one, from ages log1p(hours before prediction);
    the oldest column gets 0."""
    hours = torch.expm1(age)
    gaps = (hours[:, :-1] - hours[:, 1:]).clamp_min(0.0)
    return torch.log1p(torch.cat([torch.zeros_like(hours[:, :1]), gaps], 1))


class TimeGatedLSTM(nn.Module):
    """One LSTM layer whose candidate cell passes a Δt gate; padded steps leave the state as it was."""

    def __init__(self, width: int, time_inputs: int):
        super().__init__()
        self.gates = nn.Linear(2 * width, 4 * width)
        self.time_gate = nn.Linear(width + time_inputs, width)

    def forward(self, x: torch.Tensor, delta: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = c = x.new_zeros(x.shape[0], x.shape[-1])
        for step in range(x.shape[1]):
            i, f, o, g = self.gates(torch.cat([x[:, step], h], -1)).chunk(4, -1)
            t = torch.sigmoid(self.time_gate(torch.cat([x[:, step], delta[:, step]], -1)))
            c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * t * torch.tanh(g)
            h_new = torch.sigmoid(o) * torch.tanh(c_new)
            real = mask[:, step].unsqueeze(-1)
            h, c = torch.where(real, h_new, h), torch.where(real, c_new, c)
        return h


class TLSI(ZooModel):
    model_type = "zoo_tlsi"
    config_class = TLSIConfig

    def __init__(self, config: TLSIConfig, feature_map, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        if config.short_history < 1:
            raise ValueError(f"short_history must be >= 1, got {config.short_history}")
        if len(config.time_target_fields) != len(config.time_history_fields):
            raise ValueError(f"time_target_fields {config.time_target_fields} and time_history_fields "
                             f"{config.time_history_fields} must pair up one to one")
        self.history = HistoryReader(self.features, config)
        self.time_index = self.history.flat_index(config.time_target_fields, "time_target_fields")
        self.time_keys = self.history.extra_keys(config.time_history_fields, "categorical", "time_history_fields")
        self.age_keys = (self.history.extra_keys([config.history_age], "numeric", "history_age")
                         if config.history_age else [])
        width, d = self.history.width, config.embed_dim
        d_att = config.attention_dim or width
        self.content_query, self.content_key = nn.Linear(width, d_att), nn.Linear(width, d_att)
        n_time = len(config.time_target_fields) * d
        self.time_query, self.time_key = nn.Linear(n_time, d_att), nn.Linear(n_time, d_att)
        self.time_point = nn.Sequential(nn.Linear(1, 16), nn.PReLU(), nn.Linear(16, 1)) if self.age_keys else None
        self.short = TimeGatedLSTM(width, 2 if self.age_keys else 1)
        self.fusion = nn.Linear(3 * width, width)
        self.tower = mlp(self.features.num_fields * d + width, config)

    def long_term_scores(self, emb, keys: torch.Tensor, mask: torch.Tensor, age: torch.Tensor | None) -> torch.Tensor:
        """(B, H) attention scores: content term, plus the periodic and time-point terms when ``time_term``."""
        target = self.history.target(emb)
        scale = 1 / math.sqrt(self.content_query.out_features)
        scores = torch.einsum("bd,bhd->bh", self.content_query(target), self.content_key(keys)) * scale
        if self.config.time_term:
            now = emb.flat[:, self.time_index].flatten(1)
            then = self.history.recent(emb, self.time_keys)
            scores = scores + torch.einsum("bd,bhd->bh", self.time_query(now), self.time_key(then)) * scale
            if age is not None:
                scores = scores + self.time_point(age.unsqueeze(-1)).squeeze(-1)
        return scores.masked_fill(~mask, MASKED)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        emb = self.features(batch)
        keys, mask = self.history.behaviours(emb)
        age = self.history.recent(emb, self.age_keys)[..., 0] if self.age_keys else None
        weights = self.long_term_scores(emb, keys, mask, age).softmax(-1) * mask
        long_term = (weights.unsqueeze(-1) * keys).sum(1)
        recent = slice(-self.config.short_history, None)
        delta = (torch.stack([log_hours_between(age), age], -1) if age is not None
                 else torch.zeros_like(mask, dtype=keys.dtype).unsqueeze(-1))
        short_term = self.short(keys[:, recent], delta[:, recent], mask[:, recent])
        gate = torch.sigmoid(self.fusion(torch.cat([long_term, short_term, self.history.target(emb)], -1)))
        interest = gate * long_term + (1 - gate) * short_term
        return self.tower(torch.cat([emb.flat.flatten(1), interest], 1)).squeeze(-1)

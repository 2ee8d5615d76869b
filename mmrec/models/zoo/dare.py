"""DARE (Feng et al., ICLR 2025, thuml/DARE; ZOO.md §3) and its baseline TWIN on the typed feature layer.

Long-history target attention as a soft search: each behaviour b_i scores s_i = ⟨A(target), A(b_i)⟩/√d_a plus a
time part ⟨T_a(0), T_a(r_i)⟩/√d_t, where r_i is a recency index (target 0, the most recent behaviour 1, ..., not
a timestamp); the top-k (20) scores of the recent ``max_history`` (200) behaviours are kept and softmaxed, and the
interest u = Σ α_i E(b_i) is read from the *representation* embeddings. The tower sees [E(target), u, E(target) ⊙ u]
(plus every other flat field, as the zoo's DIN does; ``profile_fields: false`` gives the paper's inputs only)
through BN → 200 → 80 with PReLU. An auxiliary head on the full-sequence attention output (softmax over every
behaviour) adds its BCE, weight 1, to the training loss.

DARE decouples the two roles: E is the feature layer's shared table; A is a second embedding of the same
vocabularies, laid out like the shared table (same global rows, row 0 = padding, looked up with the rows
:meth:`HistoryReader.rows` gives) but ``attention_dim`` wide, and the time part has its own attention table too.
So the attention embeddings receive gradient only through the scores and the representation embeddings only
through u and the tower. TWIN (``decoupled: false``) scores with E itself: one table serves both.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from mmrec.features.layer import EMBED_INIT_STD
from mmrec.models.dropout import Dropout
from mmrec.models.zoo.base import ZooModel
from mmrec.models.zoo.history import HistoryConfig, HistoryReader

MASKED = -1e9  # score of a padded behaviour: never in the top-k ahead of a real one, weight 0 after softmax


@dataclasses.dataclass
class DAREConfig(HistoryConfig):
    """thuml/DARE defaults: item = category = time = 16 dims, history 200, top-k 20, tower 200 → 80."""

    embed_dim: int = 16
    hidden_units: list[int] = dataclasses.field(default_factory=lambda: [200, 80])
    dropout: float = 0.0
    max_history: int = 200
    top_k: int = 20
    attention_dim: int = 0           # width of DARE's attention embeddings (0 = embed_dim); TWIN has none
    decoupled: bool = True           # False: TWIN, the representation table scores the search too
    time_part: bool = True           # the recency-index embeddings in the score and the representation
    auxiliary_weight: float = 1.0    # BCE of the full-sequence attention head, added in loss()
    profile_fields: bool = True      # also feed every non-target flat field to the tower


def prelu_tower(input_dim: int, hidden_units: list[int], batch_norm: bool, dropout: float) -> nn.Sequential:
    """DARE's tower: BatchNorm on the input, then Linear → PReLU (init 0.1) per hidden layer, one logit."""
    layers: list[nn.Module] = [nn.BatchNorm1d(input_dim)] if batch_norm else []
    width = input_dim
    for units in hidden_units:
        layers += [nn.Linear(width, units), nn.PReLU(num_parameters=1, init=0.1)]
        if dropout > 0:
            layers.append(Dropout(dropout))
        width = units
    return nn.Sequential(*layers, nn.Linear(width, 1))


class SearchScore(nn.Module):
    """s_i = ⟨q, k_i⟩/√(content width) + ⟨t_q, t_i⟩/√(time width); padded behaviours get :data:`MASKED`.
    A module of its own so the score path can be isolated (a forward hook sees and may replace its output)."""

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor,
                time_query: torch.Tensor | None = None, time_keys: torch.Tensor | None = None) -> torch.Tensor:
        scores = torch.einsum("bd,bhd->bh", query, keys) / math.sqrt(query.shape[-1])
        if time_query is not None:
            scores = scores + torch.einsum("bd,bhd->bh", time_query, time_keys) / math.sqrt(time_query.shape[-1])
        return scores.masked_fill(~mask, MASKED)


def soft_search(scores: torch.Tensor, mask: torch.Tensor, values: torch.Tensor, top_k: int) -> torch.Tensor:
    """Σ α_i v_i over the ``top_k`` highest scores, α = softmax over the kept real behaviours only."""
    kept, index = scores.topk(min(top_k, scores.shape[1]), dim=1)
    real = mask.gather(1, index)
    weights = kept.masked_fill(~real, MASKED).softmax(-1) * real
    chosen = values.gather(1, index.unsqueeze(-1).expand(-1, -1, values.shape[-1]))
    return (weights.unsqueeze(-1) * chosen).sum(1)


def full_attention(scores: torch.Tensor, mask: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Σ α_i v_i with α = softmax over every real behaviour (the auxiliary head's input)."""
    return ((scores.softmax(-1) * mask).unsqueeze(-1) * values).sum(1)


class DARE(ZooModel):
    """DARE, or TWIN with ``decoupled: false``; ``forward`` -> logits, ``loss`` adds the auxiliary BCE."""

    model_type = "zoo_dare"
    config_class = DAREConfig

    def __init__(self, config: DAREConfig, feature_map, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        if config.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {config.top_k}")
        if not config.decoupled and config.attention_dim not in (0, config.embed_dim):
            raise ValueError(f"TWIN (decoupled: false) scores with the representation table: attention_dim must be "
                             f"0 or embed_dim ({config.embed_dim}), got {config.attention_dim}")
        self.history = HistoryReader(self.features, config)
        d = config.embed_dim
        d_att = config.attention_dim or d
        self.profile = ([k for k in range(self.features.num_fields) if k not in self.history.target_index]
                        if config.profile_fields else [])
        self.time = nn.Embedding(config.max_history + 1, d) if config.time_part else None
        self.attention_table = self.attention_time = None
        if config.decoupled:
            self.attention_table = nn.Embedding(self.features.table.num_embeddings, d_att, padding_idx=0)
            nn.init.normal_(self.attention_table.weight, std=EMBED_INIT_STD)
            with torch.no_grad():
                self.attention_table.weight[0].zero_()
            if config.time_part:
                self.attention_time = nn.Embedding(config.max_history + 1, d_att)
        for table in (self.time, self.attention_time):
            if table is not None:
                nn.init.normal_(table.weight, std=EMBED_INIT_STD)
        self.score = SearchScore()
        width = self.history.width + (d if config.time_part else 0)
        profile = len(self.profile) * d
        self.tower = prelu_tower(profile + 3 * width, config.hidden_units, config.batch_norm, config.dropout)
        self.auxiliary = prelu_tower(2 * width, [200], config.batch_norm, 0.0) if config.auxiliary_weight else None
        self._auxiliary_logits: torch.Tensor | None = None

    def search_inputs(self, batch, emb) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Representation query (B, W), behaviours (B, H, W) and mask, and the search scores (B, H)."""
        target, (keys, mask) = self.history.target(emb), self.history.behaviours(emb)
        recency = self.history.recency(mask)
        query_time = key_time = None
        if self.time is not None:
            zero = torch.zeros(target.shape[0], dtype=torch.long, device=target.device)
            query_time, key_time = self.time(zero), self.time(recency).expand(keys.shape[0], -1, -1)
        query, values = target, keys
        if query_time is not None:
            query, values = torch.cat([target, query_time], -1), torch.cat([keys, key_time], -1)
        if self.attention_table is None:  # TWIN: the same embeddings score and represent
            scores = self.score(target, keys, mask, query_time, key_time)
        else:
            target_rows, behaviour_rows = self.history.rows(batch)
            att_query = self.attention_table(target_rows).flatten(1)
            att_keys = self.attention_table(behaviour_rows).flatten(2)
            att_time = att_key_time = None
            if self.attention_time is not None:
                att_time = self.attention_time(torch.zeros_like(target_rows[:, 0]))
                att_key_time = self.attention_time(recency).expand(keys.shape[0], -1, -1)
            scores = self.score(att_query, att_keys, mask, att_time, att_key_time)
        return query, values, mask, scores

    def attention_scores(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The search scores (B, H) of the recent window and its mask (what the top-k keeps)."""
        batch = self.features.pack(batch)
        _, _, mask, scores = self.search_inputs(batch, self.features(batch))
        return scores, mask

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = self.features.pack(batch)
        emb = self.features(batch)
        query, values, mask, scores = self.search_inputs(batch, emb)
        interest = soft_search(scores, mask, values, self.config.top_k)
        if self.training and self.auxiliary is not None:
            full = full_attention(scores, mask, values)
            self._auxiliary_logits = self.auxiliary(torch.cat([query, full], 1)).squeeze(-1)
        parts = [emb.flat[:, self.profile].flatten(1)] if self.profile else []
        return self.tower(torch.cat(parts + [query, interest, query * interest], 1)).squeeze(-1)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """BCE (+ regulariser) of the main logit, plus ``auxiliary_weight`` × the BCE of the full-sequence
        attention head of the last training forward (consumed here, so it is added once)."""
        out = super().loss(logits, labels)
        aux, self._auxiliary_logits = self._auxiliary_logits, None
        if aux is not None and aux.shape == logits.shape:
            out["auxiliary"] = F.binary_cross_entropy_with_logits(aux, labels)
            out["loss"] = out["loss"] + self.config.auxiliary_weight * out["auxiliary"]
        return out

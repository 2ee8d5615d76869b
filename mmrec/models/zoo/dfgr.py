"""DFGR, dual-flow generative ranking (Meituan 2025; ZOO.md §3, spec [paper]) on the typed feature layer.

Each behaviour token is item ⊕ action (the item's target-field embeddings ⊕ the action sub-field's embedding,
``hist_rating`` on ml-100k), projected to ``model_dim``. The sequence is duplicated: a *real* flow with the true
actions and a *fake* flow with a learned placeholder action, sharing every Transformer weight. In each attention
layer real token i attends causally to real tokens j ≤ i; fake token i attends to real keys / values j < i and
to its own fake key / value only, so its own action cannot leak into its output; fake tokens are never keys of
another token. Inference is one real flow with the candidates appended as fake tokens: each sees the whole real
history and itself, never another candidate, so M candidates are scored in one pass (:meth:`score_groups`).

How a CTR event maps to training tokens (assumed; the paper trains on its own request logs): the event's history
(oldest first, the most recent ``max_history``) is the real flow; the target item is one more fake token (a
candidate) whose output, joined with every flat field's embedding, goes through the MLP tower to the click logit
(the event's BCE). The fake outputs at the history positions predict each behaviour's own action (positive iff
its token is in ``positive_actions``, ratings 4 / 5 as the click label) through a linear head; their BCE, weight
``history_loss_weight``, is the generative part of the loss ("loss on fake-token outputs"). Left padding: padded
behaviours are never keys; each padded query still sees itself, so no attention row is empty.

The HSTU-style baseline (:mod:`mmrec.models.zoo.interleaved`) shares this file's layer, head and losses and only
lays the tokens out differently (item, action, item, action, ... : 2n long).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from mmrec.features.layer import FieldEmbeddings
from mmrec.models.zoo.base import ZooModel, mlp
from mmrec.models.zoo.history import HistoryConfig, HistoryReader, sequence_subfield, token_flags


@dataclasses.dataclass
class DFGRConfig(HistoryConfig):
    history_action: str = "hist_rating"      # the behaviour's action sub-field (categorical)
    positive_actions: list[str] = dataclasses.field(default_factory=lambda: ["4", "5"])
    model_dim: int = 32
    num_heads: int = 2
    num_layers: int = 2
    ffn_multiplier: int = 2
    history_loss_weight: float = 1.0         # weight of the fake-token action BCE at history positions


class FlowAttentionLayer(nn.Module):
    """A pre-norm Transformer layer over two query sets sharing weights: ``real`` tokens (which are the only
    keys / values) and ``fake`` tokens, each of which also sees its own key / value.

    ``real_visible`` (G, n, n) and ``fake_visible`` (G, m, n) say which real keys each query sees."""

    def __init__(self, dim: int, heads: int, ffn_multiplier: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"model_dim {dim} must be a multiple of num_heads {heads}")
        self.heads = heads
        self.norm_attention, self.norm_ffn = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_multiplier * dim), nn.GELU(), nn.Linear(ffn_multiplier * dim, dim))

    def _heads(self, x: torch.Tensor) -> list[torch.Tensor]:
        g, n, _ = x.shape
        return [t.view(g, n, self.heads, -1).transpose(1, 2) for t in self.qkv(self.norm_attention(x)).chunk(3, -1)]

    def _merge(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(x.transpose(1, 2).flatten(2))

    def forward(self, real: torch.Tensor, fake: torch.Tensor, real_visible: torch.Tensor,
                fake_visible: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        (qr, kr, vr), (qf, kf, vf) = self._heads(real), self._heads(fake)
        scale = 1.0 / math.sqrt(qr.shape[-1])
        real_scores = (qr @ kr.transpose(-1, -2) * scale).masked_fill(~real_visible.unsqueeze(1), -math.inf)
        real_out = real_scores.softmax(-1) @ vr
        cross = (qf @ kr.transpose(-1, -2) * scale).masked_fill(~fake_visible.unsqueeze(1), -math.inf)
        own = (qf * kf).sum(-1, keepdim=True) * scale
        weights = torch.cat([cross, own], -1).softmax(-1)
        fake_out = weights[..., :-1] @ vr + weights[..., -1:] * vf
        real, fake = real + self._merge(real_out), fake + self._merge(fake_out)
        return real + self.ffn(self.norm_ffn(real)), fake + self.ffn(self.norm_ffn(fake))


def causal(valid: torch.Tensor, strict: bool) -> torch.Tensor:
    """(G, n, n): query i sees real key j iff j is a real event and j ≤ i (j < i when ``strict``); a query always
    sees itself when not ``strict`` (padded queries keep a non-empty row)."""
    n = valid.shape[1]
    order = torch.ones(n, n, dtype=torch.bool, device=valid.device).tril(-1 if strict else 0)
    visible = order & valid.unsqueeze(1)
    return visible if strict else visible | torch.eye(n, dtype=torch.bool, device=valid.device)


class BehaviourFlowModel(ZooModel):
    """What DFGR and the interleaved baseline share: tokens from the feature layer, the flow layers, the click
    tower over [candidate output, flat fields], the action head and the two losses. Subclasses lay out tokens
    (:meth:`encode`)."""

    config_class = DFGRConfig

    def __init__(self, config: DFGRConfig, feature_map, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        self.history = HistoryReader(self.features, config)
        self.action_key = sequence_subfield(self.features, config.sequence_field, config.history_action)
        self.register_buffer("positive", token_flags(self.features, self.action_key, config.positive_actions),
                             persistent=False)
        dim = config.model_dim
        self.positions = nn.Parameter(torch.randn(config.max_history + 1, dim) * 0.02)
        self.layers = nn.ModuleList(FlowAttentionLayer(dim, config.num_heads, config.ffn_multiplier)
                                    for _ in range(config.num_layers))
        self.norm = nn.LayerNorm(dim)
        self.action_head = nn.Linear(dim, 1)
        self.tower = mlp(dim + self.features.num_fields * config.embed_dim, config)
        self.history_logits: tuple[torch.Tensor, torch.Tensor] | None = None  # set by a training forward

    def encode(self, items: torch.Tensor, actions: torch.Tensor, valid: torch.Tensor, candidates: torch.Tensor,
               with_history: bool) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(G, n, D) outputs predicting each behaviour's action (None unless ``with_history``) and (G, M, D)
        candidate outputs, from (G, n, w) items, (G, n, d) actions, (G, n) mask and (G, M, w) candidates."""
        raise NotImplementedError

    def run_layers(self, real: torch.Tensor, fake: torch.Tensor, real_visible: torch.Tensor,
                   fake_visible: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for layer in self.layers:
            real, fake = layer(real, fake, real_visible, fake_visible)
        return self.norm(real), self.norm(fake)

    def _outputs(self, emb: FieldEmbeddings, group: int, with_history: bool):
        items, valid = self.history.behaviours(emb)
        n = items.shape[1]
        actions = emb.sequences[self.config.sequence_field][self.action_key][:, -n:]
        first = slice(None, None, group)  # one history per group of rows (they share it)
        candidates = self.history.target(emb).view(-1, group, items.shape[-1])
        hist_out, cand_out = self.encode(items[first], actions[first], valid[first], candidates, with_history)
        logits = self.tower(torch.cat([cand_out.flatten(0, 1), emb.flat.flatten(1)], 1)).squeeze(-1)
        return logits, hist_out, valid[first]

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Click logits (B,), one candidate (the row's target) per history; a training forward also keeps the
        history positions' action logits and labels for :meth:`loss`."""
        self.history_logits = None
        with_history = self.training and self.config.history_loss_weight > 0
        logits, hist_out, valid = self._outputs(self.features(batch), 1, with_history)
        if with_history:
            n = valid.shape[1]
            labels = self.positive[batch[self.action_key][:, -n:]].float()
            self.history_logits = (self.action_head(hist_out).squeeze(-1)[valid], labels[valid])
        return logits

    def action_logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, n) each behaviour's positive-action logit from its fake output (what the history loss trains)."""
        _, hist_out, _ = self._outputs(self.features(batch), 1, True)
        return self.action_head(hist_out).squeeze(-1)

    def score_groups(self, batch: dict[str, torch.Tensor], group: int) -> torch.Tensor:
        """Logits (B,) for B = G·``group`` rows where each run of ``group`` consecutive rows is one user's
        candidates (same history and user fields): one flow per user, all its candidates in one pass."""
        if next(iter(batch.values())).shape[0] % group:
            raise ValueError(f"the batch's rows are not a whole number of groups of {group}")
        return self._outputs(self.features(batch), group, False)[0]

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """The click BCE (+ regulariser) plus ``history_loss_weight`` × the history positions' action BCE."""
        out = super().loss(logits, labels)
        if self.history_logits is not None and self.history_logits[0].numel():
            action = F.binary_cross_entropy_with_logits(*self.history_logits)
            out = {**out, "loss": out["loss"] + self.config.history_loss_weight * action, "action_bce": action}
        return out


class DFGR(BehaviourFlowModel):
    model_type = "zoo_dfgr"

    def __init__(self, config: DFGRConfig, feature_map, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        self.token = nn.Linear(self.history.width + config.embed_dim, config.model_dim)
        self.placeholder = nn.Parameter(torch.randn(config.embed_dim) * 0.02)

    def encode(self, items, actions, valid, candidates, with_history):
        g, n, _ = items.shape
        m = candidates.shape[1]
        pos = self.positions[-n - 1:-1]
        real = self.token(torch.cat([items, actions], -1)) + pos
        fake_cand = self.token(torch.cat([candidates, self.placeholder.expand(g, m, -1)], -1)) + self.positions[-1]
        cand_visible = valid.unsqueeze(1).expand(g, m, n)
        if with_history:
            fake_hist = self.token(torch.cat([items, self.placeholder.expand(g, n, -1)], -1)) + pos
            fake, fake_visible = torch.cat([fake_hist, fake_cand], 1), torch.cat([causal(valid, True), cand_visible], 1)
        else:
            fake, fake_visible = fake_cand, cand_visible
        _, fake = self.run_layers(real, fake, causal(valid, False), fake_visible)
        return (fake[:, :n] if with_history else None), fake[:, -m:]

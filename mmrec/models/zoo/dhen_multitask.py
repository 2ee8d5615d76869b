"""DHEN multi-task CVR (ZOO.md §2, the CVR practice paper on DHEN; [paper]): the DHEN backbone (zoo I) shared by
one head per conversion task, with a self-supervised auxiliary loss that predicts the next actions of the input
sequence.

The user's behaviour sequence becomes one more field token of X_0: each behaviour is item ⊕ action (its
``history_fields`` embeddings ⊕ the ``history_action`` sub-field's embedding) projected to d, a causal
Transformer encoder layer runs over them, and the last real behaviour's state joins the flat fields' tokens
(B, m + 1, d) for the :class:`DHENBackbone`; DHEN's MLP head (``hidden_units``) is shared, then a tower per label
of ``labels`` (``tower_units``).

Auxiliary loss (weight ``aux_weight``): the causal state at behaviour i predicts whether each of the next
``aux_horizon`` behaviours i + 1 .. i + h is a positive action (its action token in ``positive_actions``; ratings
4 / 5 on ml-100k), one linear head per offset, BCE over the real (i, i + k) pairs. The state at i sees behaviours
≤ i only, so the targets never leak into their own predictors; the sequence token read by the main task sees the
whole history (past actions are legitimate inputs). Why: conversion labels are scarce; the sequence's own next
actions are plentiful free labels that shape the sequence encoder the conversion heads read.

Assumed where the summary is silent: one causal layer (``sequence_heads`` heads, FFN 4d, no dropout), binary
next-action targets, a horizon of 2.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from mmrec.features.feature_map import FeatureMap
from mmrec.models.zoo.base import mlp, mlp_width
from mmrec.models.zoo.dhen import DHENBackbone, DHENBackboneConfig
from mmrec.models.zoo.history import HistoryConfig, HistoryReader, sequence_subfield, token_flags
from mmrec.models.zoo.multidomain.base import MultiTaskConfig, MultiTaskModel, ZooOutputs, tower_config


@dataclasses.dataclass
class DHENMultiTaskConfig(MultiTaskConfig, HistoryConfig, DHENBackboneConfig):
    """The backbone's choices (DHEN's), the history it reads (HistoryConfig's), the heads (``labels``,
    ``tower_units``) and the auxiliary next-action loss."""

    history_action: str = "hist_rating"      # the behaviour's action sub-field (categorical)
    positive_actions: list[str] = dataclasses.field(default_factory=lambda: ["4", "5"])
    sequence_heads: int = 1
    aux_weight: float = 0.1                  # 0: no auxiliary loss (the ablation)
    aux_horizon: int = 2                     # predict the actions of behaviours i + 1 .. i + aux_horizon

    def __post_init__(self) -> None:
        if self.aux_horizon < 1:
            raise ValueError(f"aux_horizon must be >= 1, got {self.aux_horizon}")
        if self.aux_weight < 0:
            raise ValueError(f"aux_weight must be >= 0, got {self.aux_weight}")


class DHENMultiTask(MultiTaskModel):
    model_type = "zoo_dhen_multitask"
    config_class = DHENMultiTaskConfig

    def __init__(self, config: DHENMultiTaskConfig, feature_map: FeatureMap, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        self.history = HistoryReader(self.features, config)
        self.action_key = sequence_subfield(self.features, config.sequence_field, config.history_action)
        self.register_buffer("positive", token_flags(self.features, self.action_key, config.positive_actions),
                             persistent=False)
        d = config.embed_dim
        self.tokens = nn.Linear(self.history.width + d, d)
        self.encoder = nn.TransformerEncoderLayer(d, config.sequence_heads, 4 * d, dropout=0.0, batch_first=True)
        self.next_action = nn.Linear(d, config.aux_horizon)  # one logit per offset k = 1 .. h
        self.backbone = DHENBackbone(self.features.num_fields + 1, d, config)
        # the DHEN head's MLP (``hidden_units``, batch norm) shared by the tasks, then one tower per task: without the
        # batch norm the backbone's sample-to-sample signal (embeddings start at 1e-4) stays too small to learn from
        self.bottom = mlp(self.backbone.output_dim, config, output_dim=None)
        self.towers = nn.ModuleList(mlp(mlp_width(self.backbone.output_dim, config), tower_config(config), 1)
                                    for _ in self.tasks)

    def sequence_states(self, emb) -> tuple[torch.Tensor, torch.Tensor]:
        """Causal states (B, H, d) of the recent behaviours and their mask (B, H); padding is on the left."""
        behaviours, mask = self.history.behaviours(emb)
        n = behaviours.shape[1]
        actions = emb.sequences[self.config.sequence_field][self.action_key][:, -n:]
        # query i sees the real behaviours j <= i, and itself (so a padding query is defined; its state is unused)
        allowed = torch.ones(n, n, dtype=torch.bool, device=mask.device).tril() & mask.unsqueeze(1)
        allowed |= torch.eye(n, dtype=torch.bool, device=mask.device)
        blocked = (~allowed).repeat_interleave(self.config.sequence_heads, 0)  # (B · heads, n, n)
        states = self.encoder(self.tokens(torch.cat([behaviours, actions], -1)), src_mask=blocked)
        return states * mask.unsqueeze(-1), mask

    def next_action_loss(self, states: torch.Tensor, mask: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """BCE of state i predicting whether behaviour i + k is a positive action, over the real pairs."""
        logits = self.next_action(states)  # (B, H, h)
        labels = self.positive[actions].float()
        total, pairs = states.new_zeros(()), 0
        for k in range(1, min(self.config.aux_horizon, states.shape[1] - 1) + 1):
            real = mask[:, :-k] & mask[:, k:]  # an empty selection adds 0
            total = total + F.binary_cross_entropy_with_logits(logits[:, :-k, k - 1][real], labels[:, k:][real],
                                                               reduction="sum")
            pairs += int(real.sum())
        return total / max(pairs, 1)

    def outputs(self, batch: dict[str, torch.Tensor]) -> ZooOutputs:
        emb = self.features(batch)
        states, mask = self.sequence_states(emb)
        summary = states[:, -1]  # the most recent behaviour's causal state (zeros for an empty history)
        hidden = self.backbone(torch.cat([emb.flat, summary.unsqueeze(1)], 1))
        shared = self.bottom(hidden)
        logits = torch.cat([tower(shared) for tower in self.towers], 1)
        aux = {}
        if self.training and self.config.aux_weight > 0:
            actions = batch[self.action_key][:, -states.shape[1]:]
            aux["next_action"] = self.config.aux_weight * self.next_action_loss(states, mask, actions)
        return ZooOutputs(logits, aux)

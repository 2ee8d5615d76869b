"""The HSTU-style interleaved baseline of DFGR (ZOO.md §3): item and action tokens alternate, x_1, a_1, ..., x_n,
a_n (2n long), under one causal mask; the output at item token x_i (which sees a_j only for j < i) predicts a_i,
and each candidate is an item token appended after a_n that sees the whole sequence and itself only.

Everything else (the Transformer layer, the click tower, the action head, the losses, one-pass multi-candidate
scoring) is DFGR's (:class:`~mmrec.models.zoo.dfgr.BehaviourFlowModel`), so a comparison isolates the token
layout: 2n tokens with full (2n)² attention here against DFGR's n real + n fake tokens. HSTU's pointwise SiLU
attention is not used (assumed: the claim under test is about the layout, not the attention function).
"""

from __future__ import annotations

import torch
from torch import nn

from mmrec.models.zoo.dfgr import BehaviourFlowModel, DFGRConfig, causal


class Interleaved(BehaviourFlowModel):
    model_type = "zoo_interleaved"
    config_class = DFGRConfig

    def __init__(self, config: DFGRConfig, feature_map, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        self.item_token = nn.Linear(self.history.width, config.model_dim)
        self.action_token = nn.Linear(config.embed_dim, config.model_dim)
        self.token_type = nn.Parameter(torch.randn(2, config.model_dim) * 0.02)  # item, action

    def encode(self, items, actions, valid, candidates, with_history):
        g, n, _ = items.shape
        m = candidates.shape[1]
        pos = self.positions[-n - 1:-1]
        item_tokens = self.item_token(items) + pos + self.token_type[0]
        action_tokens = self.action_token(actions) + pos + self.token_type[1]
        real = torch.stack([item_tokens, action_tokens], 2).flatten(1, 2)  # x_1, a_1, x_2, a_2, ...
        valid2 = valid.repeat_interleave(2, 1)
        fake = self.item_token(candidates) + self.positions[-1] + self.token_type[0]
        real, fake = self.run_layers(real, fake, causal(valid2, False), valid2.unsqueeze(1).expand(g, m, 2 * n))
        return (real[:, 0::2] if with_history else None), fake

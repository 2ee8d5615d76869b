"""GRU4Rec (Hidasi et al., 2016) as a next-item backbone: a GRU over the history, projected to item space.

Histories arrive left-padded; they are packed so the recurrence never steps over padding.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from mmrec.items.base import ItemRepresentation
from mmrec.models.base import SequentialRecommender, default_item_repr
from mmrec.models.dropout import Dropout


@dataclasses.dataclass
class GRU4RecConfig:
    n_items: int = 0  # filled in from the data
    dim: int = 64
    hidden: int = 128
    n_layers: int = 1
    max_len: int = 50
    dropout: float = 0.2


class GRU4Rec(SequentialRecommender):
    """History (B, L) -> GRU states (B, L, d) aligned with the input; the last one is the user vector."""

    model_type = "gru4rec"

    config_class = GRU4RecConfig

    def __init__(self, config: GRU4RecConfig, item_repr: ItemRepresentation | None = None):
        super().__init__()
        self.config, self.n_items, self.max_len = config, config.n_items, config.max_len
        self.item_repr = default_item_repr(item_repr, config.n_items, config.dim)
        self.drop = Dropout(config.dropout)
        self.gru = nn.GRU(config.dim, config.hidden, num_layers=config.n_layers, batch_first=True)
        self.out = nn.Linear(config.hidden, config.dim)

    def encode_sequence(self, histories: torch.Tensor) -> torch.Tensor:
        histories = histories[:, -self.max_len:]
        b, length = histories.shape
        lengths = (histories > 0).sum(1).clamp(min=1)
        cols = torch.arange(length, device=histories.device)
        to_right = (cols[None, :] + (length - lengths)[:, None]) % length  # left-padded -> right-padded
        right = histories.gather(1, to_right)
        x = self.drop(self.item_repr(right))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=length)
        to_left = (cols[None, :] + lengths[:, None]) % length  # back to the input's alignment
        states = states.gather(1, to_left.unsqueeze(-1).expand(-1, -1, states.shape[-1]))
        return self.out(self.drop(states))

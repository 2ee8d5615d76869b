"""GRU4Rec (Hidasi et al., 2016) as a next-item backbone: a GRU over the history, projected to item space.

Histories arrive left-padded; they are packed so the recurrence never steps over padding (a batch without
padding, the usual evaluation chunk of long histories, runs unpacked).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from mmrec.core.sequences import gather_rows
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

    def _right_aligned(self, histories: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded (B, L) -> right-padded (B, L) with the real lengths (at least 1: an empty history reads its
        padding item, so its state stays defined)."""
        length = histories.shape[1]
        lengths = (histories > 0).sum(1).clamp(min=1)
        cols = torch.arange(length, device=histories.device)
        return histories.gather(1, (cols[None, :] + (length - lengths)[:, None]) % length), lengths

    def encode_sequence(self, histories: torch.Tensor) -> torch.Tensor:
        histories = histories[:, -self.max_len:]
        length = histories.shape[1]
        right, lengths = self._right_aligned(histories)
        packed = pack_padded_sequence(self._embed(right, None), lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=length)
        cols = torch.arange(length, device=histories.device)
        to_left = (cols[None, :] + lengths[:, None]) % length  # back to the input's alignment
        states = states.gather(1, to_left.unsqueeze(-1).expand(-1, -1, states.shape[-1]))
        return self.out(self.drop(states))

    def encode_history(self, histories: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """``encode_sequence(histories)[:, -1]`` from the GRU's final state alone: no per-position outputs, no
        unpacking, and no packing when no row has padding. ``items``: the item matrix to gather the inputs from."""
        histories = histories[:, -self.max_len:]
        if bool((histories > 0).all()):
            x = self._embed(histories, items)
        else:
            right, lengths = self._right_aligned(histories)
            x = pack_padded_sequence(self._embed(right, items), lengths.cpu(), batch_first=True, enforce_sorted=False)
        return self.out(self.drop(self.gru(x)[1][-1]))

    def _embed(self, histories: torch.Tensor, items: torch.Tensor | None) -> torch.Tensor:
        """The input vectors (dropped out): from ``item_repr``, or gathered from ``items`` when given."""
        return self.drop(self.item_repr(histories) if items is None else gather_rows(items, histories))

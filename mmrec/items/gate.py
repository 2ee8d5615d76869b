"""PAD's frequency-aware gate and the gated mixtures of expert item vectors (shared by PAD and the CTR item side).

Items are cut into frequency bins of equal training-interaction mass plus a never-seen bin
(:class:`~mmrec.core.bins.FrequencyBins`); the gate holds a logit a_k[b] per expert k and bin b and weighs
w_k = σ(a_k[b]) / Σ_j σ(a_j[b]). Expert 0 is always the ID expert: a cold item (no trained ID row) gets no ID weight.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from mmrec.core.bins import FrequencyBins
from mmrec.items.base import ItemRepresentation


def gate_positions(item_counts: np.ndarray, n_bins: int) -> tuple[torch.Tensor, int]:
    """Gate position per item index 0..N, from most popular bin (0) to never-seen (last); and the count."""
    bins = FrequencyBins.from_counts(item_counts, n_bins)
    b = bins.assign(item_counts)
    n_positions = len(bins)
    return torch.from_numpy(np.where(b == 0, n_positions - 1, n_positions - 1 - b)).long(), n_positions


def initial_gate_logits(n_positions: int) -> torch.Tensor:
    """(3, P): popular bins favour the ID expert, tail and never-seen bins the content expert (released PAD)."""
    return torch.stack([torch.linspace(1.0, 0.0, n_positions), torch.linspace(-4.0, -5.0, n_positions),
                        torch.linspace(0.0, 1.0, n_positions)])


class FrequencyGate(nn.Module):
    """Expert weights per item from its frequency bin; cold items get no ID-expert weight (expert 0 is the ID one).

    ``initial``: (K, P) starting logits for K experts (default: PAD's three, :func:`initial_gate_logits`).
    """

    def __init__(self, positions: torch.Tensor, n_positions: int, learnable: bool = True,
                 initial: torch.Tensor | None = None):
        super().__init__()
        if initial is None:
            initial = initial_gate_logits(n_positions) if learnable else torch.zeros(3, n_positions)
        if initial.shape[1] != n_positions:
            raise ValueError(f"initial gate logits have {initial.shape[1]} positions, the bins make {n_positions}")
        self.logits = nn.Parameter(initial.float(), requires_grad=learnable)
        self.register_buffer("positions", positions)
        self.cold_position = n_positions - 1

    def forward(self, items: torch.Tensor, cold: torch.Tensor) -> torch.Tensor:  # (...,) -> (..., K)
        is_cold = cold[items]
        pos = torch.where(is_cold, self.cold_position, self.positions[items])
        s = torch.sigmoid(self.logits[:, pos]).movedim(0, -1)
        s = torch.cat([s[..., :1] * (~is_cold).unsqueeze(-1), s[..., 1:]], dim=-1)
        return s / s.sum(-1, keepdim=True)


class GatedExpertItems(ItemRepresentation):
    """[w_1 e_1(i); w_2 e_2(i); w_3 e_3(i)]: the experts' item vectors, each scaled by its gate weight.

    The experts' representations are owned by the experts (held here unregistered, so weights are stored once).
    """

    def __init__(self, reprs: Sequence[ItemRepresentation], gate: FrequencyGate):
        super().__init__()
        self._reprs = tuple(reprs)
        self.gate = gate
        self.n_items = reprs[0].n_items
        self.dim = sum(r.dim for r in reprs)
        self.register_buffer("cold", torch.zeros(self.n_items + 1, dtype=torch.bool), persistent=False)

    @property
    def device(self) -> torch.device:
        return self.cold.device

    def weights(self, items: torch.Tensor) -> torch.Tensor:
        return self.gate(items, self.cold)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        w = self.weights(items)
        return torch.cat([w[..., k:k + 1] * r(items) for k, r in enumerate(self._reprs)], dim=-1)


def _normalise(logits: torch.Tensor) -> torch.Tensor:
    """(..., P, 3) expert logits per gate position -> weights; the never-seen position (last) has no ID weight."""
    s = torch.sigmoid(logits)
    no_id = torch.ones_like(s)
    no_id[..., -1, 0] = 0.0
    s = s * no_id
    return s / s.sum(-1, keepdim=True)


class UserAwareGate(nn.Module):
    """Weights per (user, gate position): logits a_k[b] + MLP([one-hot(b); u])_k, MLP output zero at start."""

    def __init__(self, n_positions: int, user_dim: int, hidden: int = 64):
        super().__init__()
        self.logits = nn.Parameter(initial_gate_logits(n_positions))
        self.user = nn.Linear(user_dim, hidden)
        self.bins = nn.Parameter(torch.randn(n_positions, hidden) * 0.1)  # one-hot(b) times the first layer
        self.out = nn.Linear(hidden, 3)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, users: torch.Tensor) -> torch.Tensor:  # (..., user_dim) -> (..., P, 3)
        hidden = nn.functional.gelu(self.user(users).unsqueeze(-2) + self.bins)
        return _normalise(self.logits.T + self.out(hidden))


class BinBlockItems(ItemRepresentation):
    """An item's [e_1; e_2; e_3] placed in the block of its gate position, zeros in the other P - 1 blocks."""

    def __init__(self, reprs: Sequence[ItemRepresentation], positions: torch.Tensor, n_positions: int):
        super().__init__()
        self._reprs = tuple(reprs)
        self.n_items, self.n_positions = reprs[0].n_items, n_positions
        self.expert_dim = sum(r.dim for r in reprs)
        self.dim = n_positions * self.expert_dim
        self.register_buffer("positions", positions)
        self.register_buffer("cold", torch.zeros(self.n_items + 1, dtype=torch.bool), persistent=False)

    @property
    def device(self) -> torch.device:
        return self.cold.device

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        pos = torch.where(self.cold[items], self.n_positions - 1, self.positions[items])
        experts = torch.cat([r(items) for r in self._reprs], dim=-1)
        blocks = nn.functional.one_hot(pos, self.n_positions).to(experts.dtype).unsqueeze(-1) * experts.unsqueeze(-2)
        return blocks.flatten(-2)

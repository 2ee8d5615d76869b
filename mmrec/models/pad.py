"""PAD's disentangle step: triple experts (ID, aligned, content) mixed by a frequency-aware gate.

Each expert is a full backbone (SASRec, GRU4Rec, ...) with its own item table and sequence encoder, scoring
s_k = <u_k, e_k(i)>. Items are cut into frequency bins of equal interaction mass plus a never-seen bin; each
expert has a logit a_k[b] per bin and w_k = σ(a_k[b]) / Σ_j σ(a_j[b]); score = Σ_k w_k s_k.

Because the bin gate depends on the item only, score = <[u_1; u_2; u_3], [w_1 e_1; w_2 e_2; w_3 e_3]>: PAD is
itself a ``SequentialRecommender`` whose user vector is the experts' concatenated and whose item representation
is the gated concatenation, so the shared trainer, losses and evaluation apply unchanged.

With ``gate="user"`` the weights also see the user (an MLP over [bin one-hot; u], started at the bin gate);
the score stays one inner product by giving every bin its own block: the user side holds w_k(u, b) u_k in
block b, an item's vector is [e_1; e_2; e_3] in the block of its bin (P times wider, so slower to score).

Cold items (no trained ID row) have no ID-expert weight and reach the score through the aligned expert (which
uses P(t) in place of e') and the content expert. ``cold_dropout`` treats a random share of items as cold at
every training step, so the cold path and the never-seen bin's gate are trained, not left at initialisation.

A PAD is built from its config and the training count of every item (kept as the ``item_counts`` buffer, from
which the bins are cut), so ``save_pretrained`` / ``mmrec.hub.load_model`` need no training data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torch import nn

from mmrec.config import ConfigError
from mmrec.eval.bins import FrequencyBins
from mmrec.models.base import SequentialRecommender
from mmrec.models.experts import ExpertConfig
from mmrec.models.item_repr import ItemRepresentation


@dataclasses.dataclass
class PADConfig:
    """The experts' architecture and the mixture's settings."""

    experts: ExpertConfig = dataclasses.field(default_factory=ExpertConfig)
    n_bins: int = 10  # frequency bins of equal interaction mass (plus one for never-seen items)
    gate: Literal["frequency", "uniform", "user"] = "frequency"  # uniform: fixed equal weights (ablation)
    gate_hidden: int = 64  # width of the user-aware gate's MLP
    cold_dropout: float = 0.0  # share of items treated as never-seen at each training step

    def validate(self) -> None:
        self.experts.validate()
        if self.n_bins < 1 or self.gate_hidden < 1 or not 0.0 <= self.cold_dropout < 1.0:
            raise ConfigError(f"pad: n_bins ({self.n_bins}) and gate_hidden ({self.gate_hidden}) must be >= 1, "
                              f"cold_dropout ({self.cold_dropout}) in [0, 1)")


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


class ColdItemsMixin:
    """For models over cold-aware item representations (``cold`` and ``hidden`` masks).

    Training: never-seen items are hidden (outside the catalogue, zero vectors) and a fresh random
    ``cold_dropout`` share of the others goes through the cold path. Evaluation: the never-seen items are
    the cold ones, and nothing is hidden.
    """

    never_seen: torch.Tensor
    cold_dropout: float

    def cold_reprs(self) -> list[nn.Module]:
        raise NotImplementedError

    def _set_masks(self, cold: torch.Tensor, hidden: torch.Tensor) -> None:
        for r in self.cold_reprs():
            r.cold.copy_(cold)
            if hasattr(r, "hidden"):
                r.hidden.copy_(hidden)

    def resample_cold(self) -> None:
        cold = self.never_seen.clone()
        if self.training and self.cold_dropout > 0:
            cold |= torch.rand(cold.shape, device=cold.device) < self.cold_dropout
            cold[0] = False
        self._set_masks(cold, self.never_seen if self.training else torch.zeros_like(cold))

    def train(self, mode: bool = True):
        super().train(mode)  # type: ignore[misc]
        self.resample_cold()
        return self


def never_seen_mask(item_counts: np.ndarray) -> torch.Tensor:
    mask = torch.from_numpy(np.asarray(item_counts) == 0)
    mask[0] = False
    return mask


class PAD(ColdItemsMixin, SequentialRecommender):
    """Triple experts ``experts[0..2]`` = ID, aligned, content, each a backbone; user vector = their concatenation.

    ``item_counts``: training interactions per item index 0..N. The experts start from zero tables and zero
    content (see :class:`ExpertConfig`); ``mmrec.train.pad.build_pad`` copies the pre-trained weights in.
    """

    def __init__(self, config: PADConfig, item_counts: np.ndarray | torch.Tensor):
        super().__init__()
        config.validate()
        self.config, self.cold_dropout = config, config.cold_dropout
        counts = np.asarray(item_counts)
        if counts.ndim != 1 or len(counts) < 2 or (counts < 0).any():
            raise ValueError(f"item_counts must be one non-negative count per item index 0..N (N >= 1), "
                             f"got shape {list(counts.shape)}")
        self.register_buffer("item_counts", torch.tensor(counts, dtype=torch.int64))
        self.n_items = len(counts) - 1
        # the aligned expert is built last: the tower's weights always replace its initial ones, so the
        # content expert's initialisation does not depend on the aligned expert's architecture
        id_expert, content_expert = config.experts.id_expert(self.n_items), config.experts.content_expert(self.n_items)
        experts = [id_expert, config.experts.aligned_expert(self.n_items), content_expert]
        self.experts = nn.ModuleList(experts)
        self.max_len = id_expert.max_len
        positions, n_positions = gate_positions(counts, config.n_bins)
        reprs = [e.item_repr for e in experts]
        if config.gate == "user":
            self.item_repr = BinBlockItems(reprs, positions, n_positions)
            self.user_gate = UserAwareGate(n_positions, self.item_repr.expert_dim, config.gate_hidden)
        else:
            self.item_repr = GatedExpertItems(
                reprs, FrequencyGate(positions, n_positions, learnable=config.gate == "frequency"))
        self.register_buffer("never_seen", never_seen_mask(counts))
        self.resample_cold()

    def cold_reprs(self) -> list[nn.Module]:
        return [self.item_repr, *(e.item_repr for e in self.experts)]

    def forward(self, histories: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.resample_cold()
        return self.encode_sequence(histories)

    def encode_sequence(self, histories: torch.Tensor) -> torch.Tensor:
        users = torch.cat([e.encode_sequence(histories) for e in self.experts], dim=-1)
        if self.config.gate != "user":
            return users
        dims = torch.tensor([e.item_repr.dim for e in self.experts], device=users.device)
        weights = self.user_gate(users).repeat_interleave(dims, dim=-1)  # (..., P, D): w_k(u, b) on u_k's dims
        return (weights * users.unsqueeze(-2)).flatten(-2)

    def expert_weights(self) -> torch.Tensor:
        """(N+1, 3) current gate weights per item (ID, aligned, content); item-only gates."""
        if self.config.gate == "user":
            raise ValueError("the user-aware gate's weights depend on the user: call user_gate(u)")
        return self.item_repr.weights(torch.arange(self.n_items + 1, device=self.never_seen.device))

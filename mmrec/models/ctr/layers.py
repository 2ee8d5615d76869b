"""Building blocks the CTR models share: MLPs, masked attention, feature and modality embedders."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmrec.data.ctr_batches import CTRBatch, FeatureSpec
from mmrec.models.dropout import Dropout


def mlp(sizes: list[int], dropout: float = 0.0, activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with an activation (and dropout) between them."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers += [activation(), Dropout(dropout)]
    return nn.Sequential(*layers)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax over positions where ``mask`` is True; all-masked rows give zeros instead of NaN."""
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=dim) * mask
    return weights / weights.sum(dim=dim, keepdim=True).clamp_min(1e-12)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Mean of ``x`` (..., L, d) over ``dim`` where ``mask`` (..., L) is True; zero when nothing is valid."""
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(dim) / m.sum(dim).clamp_min(1.0)


class FeatureEmbedder(nn.Module):
    """Embeds the non-sequential fields: user ID, user categorical features, and the target's genres.

    Returns (B, 2 + F, d): user ID, one vector per user feature, and the genre bag (mean of genre vectors).
    """

    def __init__(self, spec: FeatureSpec, dim: int):
        super().__init__()
        self.user = nn.Embedding(spec.n_users + 1, dim, padding_idx=0)
        self.user_fields = nn.ModuleList(nn.Embedding(size, dim, padding_idx=0) for size in spec.user_field_sizes)
        self.genres = nn.Linear(max(spec.n_genres, 1), dim, bias=False)
        self.n_fields = 2 + len(spec.user_field_sizes)
        for emb in [self.user, *self.user_fields]:
            nn.init.normal_(emb.weight, std=0.02)
            with torch.no_grad():
                emb.weight[0].zero_()

    def forward(self, batch: CTRBatch) -> torch.Tensor:
        fields = [self.user(batch.user)]
        fields += [emb(batch.user_features[:, i]) for i, emb in enumerate(self.user_fields)]
        genres = batch.item_genres
        if genres.shape[1] == 0:
            genres = genres.new_zeros(len(genres), 1)
        fields.append(self.genres(genres / genres.sum(1, keepdim=True).clamp_min(1.0)))
        return torch.stack(fields, dim=1)


class ModalityEncoder(nn.Module):
    """A frozen item-modality table, L2-normalised and linearly projected to ``dim``.

    Looking up indices gives (…, dim) vectors and a (…) bool mask, False for padding and for items missing the
    modality (whose vectors are zero). The table is a buffer: saved with the model, never trained.
    """

    def __init__(self, table: torch.Tensor, present: torch.Tensor, dim: int):
        super().__init__()
        self.register_buffer("table", F.normalize(table.float(), dim=-1))
        self.register_buffer("present", present.bool())
        self.proj = nn.Linear(table.shape[1], dim)

    def forward(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        present = self.present[items]
        projected = self.proj(self.table)  # (N + 1, dim): cheaper than projecting every looked-up row
        return projected[items] * present.unsqueeze(-1), present


class DINAttention(nn.Module):
    """DIN's activation unit: an MLP scores each history item against the target; weighted sum, no softmax."""

    def __init__(self, dim: int, hidden: int = 36):
        super().__init__()
        self.score = mlp([4 * dim, hidden, 1], activation=nn.Sigmoid)

    def forward(self, target: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q = target.unsqueeze(1).expand_as(keys)
        weights = self.score(torch.cat([q, keys, q - keys, q * keys], dim=-1)).squeeze(-1) * mask
        return torch.einsum("bl,bld->bd", weights, keys)

"""Recommendation-anchored alignment (PAD): project frozen content into the collaborative space of an ID table.

A projector P maps content vectors t_i (text, image, LLM, or their concatenation) to the ID dimension; the aligned
item embedding is e^A_i = GELU(W [e'_i ; P(t_i)]) where e' is a trainable copy of a pre-trained ID table. Training
minimises ``L_rec + λ · MKMMD(P(t), e')`` over the distinct items of a batch; the original table is never touched.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from alignment.mmd import distinct_items, mk_mmd


@dataclasses.dataclass
class ProjectorConfig:
    """Content projector P: d_in -> dim, then ``n_layers - 1`` further dim -> dim layers (GELU, dropout)."""

    d_in: int
    dim: int
    n_layers: int = 2
    dropout: float = 0.1


class ContentProjector(nn.Module):
    """GELU MLP from content space to the collaborative space (last layer linear, so outputs are unbounded)."""

    def __init__(self, cfg: ProjectorConfig):
        super().__init__()
        if cfg.n_layers < 1:
            raise ValueError(f"ProjectorConfig.n_layers must be >= 1, got {cfg.n_layers}")
        layers: list[nn.Module] = [nn.Linear(cfg.d_in, cfg.dim)]
        for _ in range(cfg.n_layers - 1):
            layers += [nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.dim, cfg.dim)]
        self.net = nn.Sequential(*layers)

    def forward(self, content: torch.Tensor) -> torch.Tensor:  # (..., d_in) -> (..., dim)
        return self.net(content)


class ContentItems(nn.Module):
    """Items as projected frozen content: i -> P(t_i); padding (index 0) maps to zeros."""

    def __init__(self, content: torch.Tensor, projector: ProjectorConfig):
        super().__init__()
        if content.shape[1] != projector.d_in:
            raise ValueError(f"content has {content.shape[1]} columns, projector expects {projector.d_in}")
        self.register_buffer("content", content.detach().clone().float())
        self.projector = ContentProjector(projector)
        self.n_items, self.dim = content.shape[0] - 1, projector.dim

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        return self.projector(self.content[items]) * (items != 0).unsqueeze(-1)

    def all_items(self) -> torch.Tensor:
        return self(torch.arange(self.n_items + 1, device=self.content.device))


class AlignedItems(nn.Module):
    """e^A_i = GELU(W [e'_i ; P(t_i)]) with e' initialised from (a copy of) a pre-trained ID table.

    ``id_table`` (N+1, dim) and ``content`` (N+1, d_in) share row indexing; row 0 is padding and maps to zeros.
    The ID table is copied, so the caller's tensor (the frozen anchor) never changes. Items flagged ``cold``
    (no trained ID row, e.g. never seen in training) use P(t_i) in place of e'_i: MMD put both in one space.
    """

    def __init__(self, id_table: torch.Tensor, content: torch.Tensor, projector: ProjectorConfig):
        super().__init__()
        if id_table.shape[0] != content.shape[0]:
            raise ValueError(f"id_table has {id_table.shape[0]} rows, content {content.shape[0]}")
        if id_table.shape[1] != projector.dim:
            raise ValueError(f"id_table dim {id_table.shape[1]} != projector dim {projector.dim}")
        self.ids = nn.Embedding.from_pretrained(id_table.detach().clone().float(), freeze=False, padding_idx=0)
        self.content = ContentItems(content, projector)
        self.fuse = nn.Linear(2 * projector.dim, projector.dim)
        self.n_items, self.dim = id_table.shape[0] - 1, projector.dim

    def projected(self, items: torch.Tensor) -> torch.Tensor:
        """P(t_i): the content side that MMD pulls toward the ID distribution."""
        return self.content(items)

    def forward(self, items: torch.Tensor, cold: torch.Tensor | None = None) -> torch.Tensor:
        """``cold``: optional (N+1,) bool per item index; those items' ID half is replaced by P(t)."""
        projected = self.content(items)
        ids = self.ids(items)
        if cold is not None:
            ids = torch.where(cold[items].unsqueeze(-1), projected, ids)
        fused = self.fuse(torch.cat([ids, projected], dim=-1))
        return nn.functional.gelu(fused) * (items != 0).unsqueeze(-1)

    def all_items(self, cold: torch.Tensor | None = None) -> torch.Tensor:
        return self(torch.arange(self.n_items + 1, device=self.ids.weight.device), cold)


def alignment_mmd(aligned: AlignedItems, batch_items: torch.Tensor) -> torch.Tensor:
    """MKMMD(P(t), e') over the distinct non-padding items of ``batch_items``."""
    items = distinct_items(batch_items)
    return mk_mmd(aligned.projected(items), aligned.ids(items))


def alignment_loss(rec_loss: torch.Tensor, aligned: AlignedItems, batch_items: torch.Tensor,
                   mmd_weight: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_rec + λ · MMD, MMD). With λ = 0 the MMD is still returned (detached) for monitoring."""
    mmd = alignment_mmd(aligned, batch_items)
    if mmd_weight == 0.0:
        return rec_loss, mmd.detach()
    return rec_loss + mmd_weight * mmd, mmd

"""Items as fused Mixture-of-Codes semantic IDs (optionally plus an ID embedding).

Every (codebook, level) has its own code-embedding table; an item's K = n_codebooks x levels code embeddings are
re-weighted by a self-gating bottleneck ``E ⊙ σ(W_up δ(W_down E))`` over their concatenation (so each code's weight
depends on the others), then summed or projected to ``dim``. Items that never appeared in training still have codes
shared with warm items, so they get a useful vector without a trained ID embedding.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from mmrec.items.base import IDEmbedding, ItemRepresentation

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU}


def as_code_tensor(codes: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Codes as an int64 tensor (kept on its device when already a tensor)."""
    return codes.long() if isinstance(codes, torch.Tensor) else torch.as_tensor(np.asarray(codes), dtype=torch.int64)


def prepend_padding(codes: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Codes of items 1..N ``(N, n_codebooks, levels)`` -> ``(N + 1, ...)`` int64 with an all-zero row 0 (padding)."""
    codes = as_code_tensor(codes)
    return torch.cat([codes.new_zeros((1, *codes.shape[1:])), codes])


class SemanticIDRepresentation(ItemRepresentation):
    """Item vectors from codes ``(N + 1, n_codebooks, levels)`` (row 0 = padding, see :func:`prepend_padding`).

    ``codes_per_level`` sizes each table (a level whose codes go higher, e.g. a collision suffix, gets a larger
    table); ``bottleneck`` is the gate's hidden width; ``reduce`` is ``"sum"`` or ``"project"`` (a linear map of the
    concatenation to ``dim``); ``with_id`` adds an :class:`IDEmbedding`; ``code_dim`` (default ``dim``; any other
    width needs ``reduce="project"``) is each code table's width, so n_codebooks x levels x code_dim can be held
    fixed; ``id_items`` (N + 1 bools) limits the ID embedding to those items, so the others (never seen in training,
    whose ID rows would only ever be pushed down as softmax negatives) are their codes alone. Padding (index 0) maps
    to a zero vector.
    """

    def __init__(
        self,
        codes: np.ndarray | torch.Tensor,
        dim: int,
        codes_per_level: int,
        *,
        bottleneck: int | None = None,
        activation: Literal["relu", "gelu"] = "relu",
        reduce: Literal["sum", "project"] = "sum",
        with_id: bool = False,
        code_dim: int | None = None,
        id_items: np.ndarray | torch.Tensor | None = None,
        init_std: float = 0.02,
    ):
        super().__init__()
        codes = as_code_tensor(codes)
        if codes.ndim != 3 or len(codes) < 2:
            raise ValueError(f"codes must be (N + 1, n_codebooks, levels) with N >= 1, got {tuple(codes.shape)}")
        if codes.min() < 0:
            raise ValueError("codes must be non-negative")
        if reduce not in ("sum", "project"):
            raise ValueError(f"reduce must be 'sum' or 'project', got {reduce!r}")
        code_dim = dim if code_dim is None else code_dim
        if code_dim != dim and reduce != "project":
            raise ValueError(f"code_dim {code_dim} != dim {dim} needs reduce='project'")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.n_items, self.dim = len(codes) - 1, dim
        self.n_codebooks, self.levels = codes.shape[1], codes.shape[2]
        # the scalar arguments, kept so that mmrec.hub saves them in config.json and rebuilds this module
        self.codes_per_level, self.bottleneck, self.activation = codes_per_level, bottleneck, activation
        self.reduce, self.with_id = reduce, with_id
        self.register_buffer("codes", codes)
        sizes = torch.clamp(codes.amax(0) + 1, min=codes_per_level)  # (n_codebooks, levels)
        self.code_dim = code_dim
        self.tables = nn.ModuleList(nn.Embedding(int(size), code_dim) for size in sizes.flatten().tolist())
        for table in self.tables:
            nn.init.normal_(table.weight, std=init_std)
        width, hidden = self.n_codebooks * self.levels * code_dim, bottleneck or dim
        self.gate = nn.Sequential(
            nn.Linear(width, hidden), ACTIVATIONS[activation](), nn.Linear(hidden, width)
        )
        self.project = nn.Linear(width, dim) if reduce == "project" else None
        self.id_embedding = IDEmbedding(self.n_items, dim, init_std) if with_id else None
        if id_items is not None:  # (N + 1,) bool: which items add their ID embedding (e.g. those seen in training)
            self.register_buffer("id_items", torch.as_tensor(np.asarray(id_items), dtype=torch.bool))
        else:
            self.id_items = None

    def code_tables(self) -> dict[str, torch.Tensor]:
        """The learned tables by name ``codebook<c>/level<l>`` (for ``semantic_ids.stats.embedding_stats``)."""
        return {
            f"codebook{k // self.levels}/level{k % self.levels}": table.weight for k, table in enumerate(self.tables)
        }

    def code_embeddings(self, items: torch.Tensor) -> torch.Tensor:
        """The stacked code embeddings E of ``items``: ``(..., n_codebooks * levels, dim)``."""
        item_codes = self.codes[items].flatten(-2)  # (..., K)
        return torch.stack([table(item_codes[..., k]) for k, table in enumerate(self.tables)], dim=-2)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        if items.numel() > self.n_items + 1:  # more lookups than items (a training batch): every item once, gathered
            return self.all_items()[items]
        return self._vectors(items)

    def all_items(self) -> torch.Tensor:
        return self._vectors(torch.arange(self.n_items + 1, device=self.codes.device))

    def _vectors(self, items: torch.Tensor) -> torch.Tensor:
        """Gate, reduce and (optionally) add the ID embedding: each item's vector from its codes."""
        stacked = self.code_embeddings(items)
        flat = stacked.flatten(-2)
        gated = flat * torch.sigmoid(self.gate(flat))
        out = self.project(gated) if self.project is not None else gated.unflatten(-1, stacked.shape[-2:]).sum(-2)
        if self.id_embedding is not None:
            ids = self.id_embedding(items)
            out = out + (ids if self.id_items is None else ids * self.id_items[items].unsqueeze(-1).to(ids.dtype))
        return out * (items != 0).unsqueeze(-1).to(out.dtype)


def load_codes(directory: str | Path) -> dict[str, np.ndarray]:
    """``{variant: codes (N+1, n_codebooks, levels) int64}`` from a ``quantize`` artifact (row 0 = padding)."""
    directory = Path(directory)
    names = json.loads((directory / "quantize.json").read_text())["variants"]
    return {name: np.load(directory / name / "codes.npy", allow_pickle=False) for name in names}

"""Item content matrices from the ``encode`` stage's layout: ``<modality>.safetensors`` per modality.

Each file holds ``embeddings`` (N+1, d) float32 with row 0 = padding zeros and ``mask`` (N+1,) bool (False =
the modality is missing for that item). Several modalities are combined by concatenating their row-wise
L2-normalised matrices, so no modality dominates by scale; missing rows stay zero.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

MODALITIES = ("text", "image", "llm")


def load_modality(directory: str | Path, modality: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(embeddings (N+1, d), mask (N+1,)) of one modality."""
    path = Path(directory) / f"{modality}.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"no '{modality}' embeddings at {path} (modalities: {', '.join(MODALITIES)})")
    tensors = load_file(str(path))
    return tensors["embeddings"].float(), tensors["mask"].bool()


def load_content(directory: str | Path, modalities: list[str], n_items: int) -> torch.Tensor:
    """(N+1, Σd) content matrix: each modality L2-normalised per row, missing rows and row 0 zero, concatenated."""
    if not modalities:
        raise ValueError("load_content needs at least one modality")
    parts = []
    for modality in modalities:
        emb, mask = load_modality(directory, modality)
        if emb.shape[0] != n_items + 1:
            raise ValueError(f"{modality} embeddings have {emb.shape[0]} rows, expected {n_items + 1} (N+1)")
        mask = mask.clone()
        mask[0] = False
        parts.append(F.normalize(emb, dim=1) * mask.unsqueeze(1))
    return torch.cat(parts, dim=1)

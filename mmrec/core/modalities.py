"""Item modality tables (the ``encode`` stage's contract): one ``<modality>.safetensors`` per modality.

Each file holds ``embeddings`` (N + 1, d) float32 with row 0 = padding zeros and ``mask`` (N + 1,) bool,
False where the item lacks that modality (a missing poster, empty text). Models look items up by index.
One reader for every consumer: :func:`load_modalities` gives the raw tables (missing rows zero), and
:func:`content_matrix` combines modalities by concatenating their row-wise L2-normalised tables, so no modality
dominates by scale.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

MODALITY_ORDER = ("text", "image", "llm")


def load_modalities(directory: str | Path, names: list[str] | None = None
                    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{name: (embeddings (N+1, d) float32, mask (N+1,) bool)}`` for the modalities found (or ``names``)."""
    directory = Path(directory)
    found = {p.stem for p in directory.glob("*.safetensors")}
    wanted = names if names is not None else [m for m in MODALITY_ORDER if m in found] + sorted(found - set(MODALITY_ORDER))
    tables = {}
    for name in wanted:
        path = directory / f"{name}.safetensors"
        if not path.is_file():
            raise FileNotFoundError(f"modality '{name}' not found: {path} (have: {', '.join(sorted(found)) or 'none'})")
        data = load_file(str(path))
        emb, mask = data["embeddings"].float(), data["mask"].bool()
        if emb.ndim != 2 or mask.shape != emb.shape[:1]:
            raise ValueError(f"{path}: embeddings {tuple(emb.shape)} and mask {tuple(mask.shape)} do not match")
        emb = emb.clone()
        emb[~mask] = 0.0  # absent modality = zero row, whatever the file holds
        mask = mask.clone()
        mask[0] = False
        tables[name] = (emb, mask)
    sizes = {name: t[0].shape[0] for name, t in tables.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"modality tables disagree on the number of items: {sizes}")
    return tables


def content_matrix(directory: str | Path, modalities: list[str], n_items: int) -> torch.Tensor:
    """(N+1, Σd) content matrix: each modality L2-normalised per row, missing rows and row 0 zero, concatenated."""
    if not modalities:
        raise ValueError("content_matrix needs at least one modality")
    tables = load_modalities(directory, list(modalities))
    parts = []
    for modality in modalities:
        emb, mask = tables[modality]
        if emb.shape[0] != n_items + 1:
            raise ValueError(f"{modality} embeddings have {emb.shape[0]} rows, expected {n_items + 1} (N+1)")
        parts.append(F.normalize(emb, dim=1) * mask.unsqueeze(1))
    return torch.cat(parts, dim=1)


def save_modalities(directory: str | Path, tables: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Write tables in the layout :func:`load_modalities` reads (used by tests and ad-hoc encoders)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, (emb, mask) in tables.items():
        save_file({"embeddings": emb.float().contiguous(), "mask": mask.bool().contiguous()},
                  str(directory / f"{name}.safetensors"))

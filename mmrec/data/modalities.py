"""Item modality tables (the ``encode`` stage's contract): one ``<modality>.safetensors`` per modality.

Each file holds ``embeddings`` (N + 1, d) float32 with row 0 = padding zeros and ``mask`` (N + 1,) bool,
False where the item lacks that modality (a missing poster, empty text). Models look items up by index.
"""

from __future__ import annotations

from pathlib import Path

import torch
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


def save_modalities(directory: str | Path, tables: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Write tables in the layout :func:`load_modalities` reads (used by tests and ad-hoc encoders)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, (emb, mask) in tables.items():
        save_file({"embeddings": emb.float().contiguous(), "mask": mask.bool().contiguous()},
                  str(directory / f"{name}.safetensors"))

"""Data layer: loaders into one set of internal tables, validation, splits."""

from __future__ import annotations

from pathlib import Path

from mmrec.data.config import DataConfig
from mmrec.data.directory import load_directory
from mmrec.data.download import locate
from mmrec.data.errors import DataError
from mmrec.data.movielens import load_movielens_100k
from mmrec.data.tables import Tables

__all__ = ["DataError", "Tables", "load_tables", "resolve_dataset"]


def resolve_dataset(cfg: DataConfig) -> tuple[Path, str]:
    """The dataset's folder and its format (``movielens`` or ``directory``)."""
    as_path = Path(cfg.dataset).expanduser()
    if as_path.is_dir():
        folder = as_path
    else:
        folder = locate(cfg.dataset, cfg.cache_dir)
    fmt = cfg.format
    if fmt == "auto":
        fmt = "movielens" if (folder / "u.data").is_file() else "directory"
    return folder, fmt


def load_tables(cfg: DataConfig) -> Tables:
    """Load the recipe's dataset into :class:`Tables` (validated, indexed, item text built)."""
    folder, fmt = resolve_dataset(cfg)
    if fmt == "movielens":
        return load_movielens_100k(folder, cfg.text_fields, with_images=cfg.image_field is not None)
    return load_directory(folder, cfg.text_fields, cfg.image_field)

"""Data layer: loaders into one set of internal tables, validation, splits."""

from __future__ import annotations

from pathlib import Path

from mmrec.data.amazon import load_amazon
from mmrec.data.config import DataConfig
from mmrec.data.directory import load_directory
from mmrec.data.download import locate
from mmrec.data.errors import DataError
from mmrec.data.movielens import load_movielens_1m, load_movielens_20m, load_movielens_100k
from mmrec.data.tables import Tables

__all__ = ["CTR_LOGS", "DataError", "Tables", "detect_format", "load_tables", "resolve_dataset"]

# format -> a file (glob) whose presence identifies the upstream layout, checked in this order
_LAYOUTS = (
    ("directory", "interactions.*"),
    ("movielens", "u.data"),
    ("movielens-1m", "ratings.dat"),
    ("movielens-20m", "ratings.csv"),
    ("amazon-2018", "*_5.json*"),
    ("amazon-2023", "meta_*.jsonl*"),
    ("criteo", "train.txt"),
    ("frappe", "x1_valid.libsvm"),
    ("events", "train.csv"),
    ("events", "train.parquet"),
)
CTR_LOGS = ("criteo", "frappe", "events")  # CTR event logs (no item / user tables): read by the fields stage


def detect_format(folder: Path) -> str:
    """The upstream layout of ``folder`` by the files it holds; ``directory`` (bring-your-own) otherwise."""
    return next((fmt for fmt, pattern in _LAYOUTS if any(folder.glob(pattern))), "directory")


def resolve_dataset(cfg: DataConfig) -> tuple[Path, str]:
    """The dataset's folder and its format (one of ``DataConfig.format`` other than ``auto``)."""
    as_path = Path(cfg.dataset).expanduser()
    if as_path.is_dir():
        folder = as_path
    else:
        folder = locate(cfg.dataset, cfg.cache_dir)
    return folder, detect_format(folder) if cfg.format == "auto" else cfg.format


def load_tables(cfg: DataConfig) -> Tables:
    """Load the recipe's dataset into :class:`Tables` (validated, indexed, item text built)."""
    folder, fmt = resolve_dataset(cfg)
    with_images = cfg.image_field is not None
    if fmt == "movielens":
        return load_movielens_100k(folder, cfg.text_fields, with_images=with_images, duplicates=cfg.duplicates)
    if fmt == "movielens-1m":
        return load_movielens_1m(folder, cfg.text_fields, duplicates=cfg.duplicates)
    if fmt == "movielens-20m":
        return load_movielens_20m(folder, cfg.text_fields, duplicates=cfg.duplicates)
    if fmt in ("amazon-2018", "amazon-2023"):
        return load_amazon(folder, fmt.removeprefix("amazon-"), cfg.text_fields, with_images,
                           duplicates=cfg.duplicates)
    if fmt in CTR_LOGS:
        raise DataError(folder, f"{fmt} is a CTR log (no items or users): the fields stage reads it (recipe "
                                "'features:' + 'fields.models'), not into sequential tables")
    return load_directory(folder, cfg.text_fields, cfg.image_field, duplicates=cfg.duplicates)

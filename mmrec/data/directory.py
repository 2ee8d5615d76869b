"""Bring-your-own data: a directory with ``interactions``, ``items`` and optional ``users`` tables.

Each table is ``NAME.csv`` or ``NAME.parquet``; IDs may be strings or integers; ``interactions`` needs
``user_id, item_id, timestamp`` (+ optional ``rating`` or ``label``); ``items`` needs ``item_id`` plus any
text columns and optionally an image column holding paths relative to the directory.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mmrec.data.build import RawFrame, build_tables
from mmrec.data.errors import DataError
from mmrec.data.tables import Tables


def _find(root: Path, stem: str, required: bool) -> Path | None:
    for suffix in (".parquet", ".csv"):
        path = root / f"{stem}{suffix}"
        if path.is_file():
            return path
    if required:
        raise DataError(root / f"{stem}.csv", f"missing: the dataset directory needs {stem}.csv or {stem}.parquet")
    return None


def read_table(path: Path) -> RawFrame:
    """Read a CSV (header line + rows, everything as strings) or a parquet file."""
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataError(path, "file is empty") from None
    except Exception as exc:  # noqa: BLE001 - parser errors of pandas / pyarrow are many types
        raise DataError(path, f"cannot parse: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return RawFrame(frame, path, first_line=2 if path.suffix == ".csv" else 1)


def load_directory(root: str | Path, text_fields: list[str], image_field: str | None, name: str | None = None,
                   duplicates: str = "drop") -> Tables:
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "dataset directory not found")
    users_path = _find(root, "users", required=False)
    return build_tables(
        name=name or root.name,
        root=root,
        items=read_table(_find(root, "items", required=True)),
        interactions=read_table(_find(root, "interactions", required=True)),
        users=read_table(users_path) if users_path else None,
        text_fields=text_fields,
        image_column=image_field,
        duplicates=duplicates,
    )

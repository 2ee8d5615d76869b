"""Validate raw item / user / interaction frames and index them into :class:`Tables`.

Both the MovieLens loader and the bring-your-own directory loader end here, so every dataset gets the same
checks and the same error messages: the first bad row is named by file, line and column.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from PIL import Image, UnidentifiedImageError

from mmrec.data.errors import DataError
from mmrec.data.tables import Tables, dataset_from_arrow
from mmrec.data.timestamps import parse_numbers, to_seconds

DUPLICATE_POLICIES = ("keep", "drop")


@dataclasses.dataclass
class RawFrame:
    """A loaded file: its frame, where it came from, and how frame rows map to file lines."""

    frame: pd.DataFrame
    file: Path
    first_line: int  # file line of frame row 0 (2 with a header line, 1 without)

    def line(self, row: int) -> int:
        return self.first_line + int(row)


def require_columns(raw: RawFrame, columns: list[str]) -> None:
    if raw.frame.empty:
        raise DataError(raw.file, "file has no rows")
    for column in columns:
        if column not in raw.frame.columns:
            raise DataError(raw.file, f"missing required column (found: {', '.join(map(str, raw.frame.columns))})",
                            column=column)


def _ids(raw: RawFrame, column: str) -> pd.Series:
    """An ID column: int64 where it holds integers (indexing millions of them stays cheap), else stripped strings.

    Either form names the same IDs: ``_matching`` turns an integer column into strings when the other side of
    a lookup has strings, and an integer's string is what the string path would have read.
    """
    series = raw.frame[column]
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    missing = series.isna() if numeric else series.isna() | (series.astype(str).str.strip() == "")
    if missing.any():
        raise DataError(raw.file, "empty ID", row=raw.line(np.flatnonzero(missing.to_numpy())[0]), column=column)
    if pd.api.types.is_float_dtype(series) and (series % 1 == 0).all():
        series = series.astype("int64")
    if pd.api.types.is_integer_dtype(series):
        return series.astype("int64")
    return series.astype(str)  # exactly as written: spaces, leading zeros and any characters are part of the ID


def _matching(*ids: pd.Series) -> list[pd.Series]:
    """The ID columns of one lookup in one form: all int64 if all are, else all strings."""
    if all(pd.api.types.is_integer_dtype(s) for s in ids):
        return list(ids)
    return [s if pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s) else s.astype(str) for s in ids]


def _check_unique(raw: RawFrame, ids: pd.Series, column: str) -> None:
    duplicated = ids.duplicated().to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        raise DataError(raw.file, f"duplicate ID '{ids.iloc[row]}'", row=raw.line(row), column=column)


def _numeric(raw: RawFrame, column: str) -> np.ndarray:
    values = parse_numbers(raw.frame[column])
    bad = np.isnan(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(raw.file, f"not a number: {raw.frame[column].iloc[row]!r}", row=raw.line(row), column=column)
    return values


def _field_text(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (list, tuple, np.ndarray)):
        return ", ".join(str(v).strip() for v in value if str(v).strip())
    return str(value).strip()


def item_text(fields: dict[str, str], text_fields: list[str]) -> str:
    """The text an item is encoded from: ``"Title: ... . Genres: ..."`` over the recipe's chosen fields."""
    parts = [f"{name.replace('_', ' ').capitalize()}: {fields[name].rstrip('.')}"
             for name in text_fields if fields.get(name)]
    return ". ".join(parts)


def _resolve_image(root: Path, raw: RawFrame, row: int, column: str, value: str) -> str | None:
    """Relative image path inside ``root`` if the file exists; None if missing; error if it escapes or is corrupt."""
    if not value:
        return None
    candidate = (root / value).resolve()
    if not candidate.is_relative_to(root.resolve()):
        raise DataError(raw.file, f"image path escapes the dataset directory: {value!r}", row=raw.line(row),
                        column=column)
    if not candidate.is_file():
        return None
    try:  # header check only: cheap for thousands of files; a truncated body is masked by the image encoder
        with Image.open(candidate):
            pass
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DataError(raw.file, f"unreadable image {value!r} ({exc})", row=raw.line(row), column=column) from None
    return str(candidate.relative_to(root.resolve()))


def build_tables(
    name: str,
    root: Path,
    items: RawFrame,
    interactions: RawFrame,
    users: RawFrame | None,
    text_fields: list[str],
    image_column: str | None,
    duplicates: str = "drop",
) -> Tables:
    """Check everything, index IDs 1..N / 1..U, build item text and image masks, and return :class:`Tables`.

    Repeated (user, item, timestamp) events are counted; ``duplicates="drop"`` keeps the first of each
    (in file order), ``"keep"`` keeps them all.
    """
    if duplicates not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_POLICIES}, got {duplicates!r}")
    require_columns(items, ["item_id"])
    require_columns(interactions, ["user_id", "item_id", "timestamp"])
    for field in text_fields:
        if field not in items.frame.columns:
            raise DataError(items.file, "text field named by the recipe is not a column", column=field)

    item_ids, inter_items = _matching(_ids(items, "item_id"), _ids(interactions, "item_id"))
    _check_unique(items, item_ids, "item_id")
    item_index = pd.Index(item_ids)
    inter_users = _ids(interactions, "user_id")
    positions = item_index.get_indexer(inter_items)
    unknown = positions < 0
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise DataError(interactions.file, f"item '{inter_items.iloc[row]}' is not in {items.file.name}",
                        row=interactions.line(row), column="item_id")
    timestamps = to_seconds(interactions.frame["timestamp"], interactions.file, interactions.first_line)
    rating_column = next((c for c in ("rating", "label") if c in interactions.frame.columns), None)
    ratings = _numeric(interactions, rating_column) if rating_column else np.full(len(positions), np.nan)

    if users is not None:
        require_columns(users, ["user_id"])
        user_ids, inter_users = _matching(_ids(users, "user_id"), inter_users)
        _check_unique(users, user_ids, "user_id")
        user_index = pd.Index(user_ids)
        user_pos = user_index.get_indexer(inter_users)
        if (user_pos < 0).any():
            row = int(np.flatnonzero(user_pos < 0)[0])
            raise DataError(interactions.file, f"user '{inter_users.iloc[row]}' is not in {users.file.name}",
                            row=interactions.line(row), column="user_id")
        user_frame = users.frame.drop(columns=["user_id"]).astype(str)
    else:
        user_index = pd.Index(pd.unique(inter_users))
        user_pos = user_index.get_indexer(inter_users)
        user_frame = pd.DataFrame(index=range(len(user_index)))

    if image_column is not None and image_column not in items.frame.columns:
        image_column = None  # no image column at all: every item is missing its image
    field_columns = [c for c in items.frame.columns if c not in ("item_id", image_column)]
    texts, paths = [], []
    for row, record in enumerate(items.frame.to_dict("records")):
        fields = {c: _field_text(record[c]) for c in field_columns}
        texts.append(item_text(fields, text_fields))
        image_value = _field_text(record[image_column]) if image_column else ""
        paths.append(_resolve_image(root, items, row, image_column, image_value) if image_column else None)

    item_columns = {
        "item_idx": np.arange(1, len(item_index) + 1, dtype=np.int64),
        "item_id": list(item_index.astype(str)),
        **{c: [_field_text(v) for v in items.frame[c]] for c in field_columns},
        "text": texts,
        "has_text": [bool(t) for t in texts],
        "image_path": [p or "" for p in paths],
        "has_image": [p is not None for p in paths],
    }
    user_columns = {
        "user_idx": np.arange(1, len(user_index) + 1, dtype=np.int64),
        "user_id": list(user_index.astype(str)),
        **{str(c): user_frame[c].tolist() for c in user_frame.columns},
    }
    repeated = pd.DataFrame({"u": user_pos, "i": positions, "t": timestamps}).duplicated(keep="first").to_numpy()
    kept = ~repeated if duplicates == "drop" else np.ones(len(positions), dtype=bool)
    inter_columns = {
        "user_idx": (user_pos[kept] + 1).astype(np.int64),
        "item_idx": (positions[kept] + 1).astype(np.int64),
        "timestamp": timestamps[kept],
        "rating": ratings[kept],
        "order": np.flatnonzero(kept).astype(np.int64),  # file row: ties in time keep the file's order
    }
    return Tables(
        name=name,
        items=dataset_from_arrow(pa.table(item_columns)),
        users=dataset_from_arrow(pa.table(user_columns)),
        interactions=dataset_from_arrow(pa.table(inter_columns)),
        root=str(root.resolve()),
        n_duplicates=int(repeated.sum()),
        duplicates=duplicates,
    )

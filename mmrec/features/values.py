"""Column values -> tokens, numbers, lists: the checks shared by fitting and encoding (errors name file/row/field)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from mmrec.features.errors import FeatureError, where


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value)


def tokens(column: pd.Series) -> np.ndarray:
    """String tokens of a column (integral floats as ints, so 3, 3.0 and "3" are one token); missing -> None."""
    distinct, inverse = token_codes(column)
    return distinct[inverse]


def token_codes(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """:func:`tokens` as its distinct tokens (object array, None = missing) and each row's position in them.

    Integer, float and all-string columns are factorised with NumPy / pandas and only the distinct values become
    Python strings (millions of sequence values per chunk); anything else converts value by value.
    """
    if pd.api.types.is_bool_dtype(column) or not len(column):
        return _tokens_one_by_one(column.to_numpy(dtype=object)), np.arange(len(column))
    if pd.api.types.is_integer_dtype(column) and not column.hasnans:
        distinct, inverse = np.unique(column.to_numpy(), return_inverse=True)
        return distinct.astype(str).astype(object), inverse
    if pd.api.types.is_float_dtype(column):
        distinct, inverse = np.unique(column.to_numpy(dtype=np.float64, na_value=np.nan), return_inverse=True)
        integral = np.isfinite(distinct) & (distinct % 1 == 0) & (np.abs(distinct) < 2.0 ** 62)
        text = np.where(integral, np.where(integral, distinct, 0).astype(np.int64).astype(str), distinct.astype(str))
        out = text.astype(object)
        out[np.isnan(distinct)] = None
        return out, inverse
    values = column.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=True) == "string":
        codes, uniques = pd.factorize(values)
        distinct = np.append(np.asarray(uniques, dtype=object), None)
        distinct[distinct == ""] = None
        return distinct, np.where(codes < 0, len(distinct) - 1, codes)
    return _tokens_one_by_one(values), np.arange(len(values))


def _tokens_one_by_one(values: np.ndarray) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if is_missing(v):
            out[i] = None
        elif isinstance(v, (float, np.floating)) and float(v).is_integer():
            out[i] = str(int(v))
        else:
            out[i] = str(v)
    return out


def numbers(column: pd.Series, source: str, field: str, row_offset: int) -> np.ndarray:
    """float64 values, NaN where missing; text that is not a number is an error naming its row."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    parsed = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    raw = column.to_numpy(dtype=object)
    for i in np.flatnonzero(np.isnan(parsed)):
        if not is_missing(raw[i]) and str(raw[i]).strip().lower() != "nan":
            raise FeatureError(f"{where(source, field, row_offset + i + 1)}: {raw[i]!r} is not a number "
                               "(the field is numeric)")
    return parsed


def flat_lists(column: pd.Series, sep: str) -> tuple[pd.Series, np.ndarray]:
    """Every row's list of values flattened into one Series (missing values dropped) and each row's count.

    A row is a list / array value or a ``sep``-joined string; missing -> []. Rows that are all NumPy arrays (a
    history column built with NumPy) concatenate in one step, numbers kept as numbers; :func:`tokens` turns the
    values into tokens, :func:`numbers` into floats.
    """
    values = column.to_numpy(dtype=object)
    if len(values) and all(isinstance(v, np.ndarray) for v in values):
        lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        flat = pd.Series(np.concatenate(values) if lengths.sum() else np.zeros(0, dtype=object))
    else:
        rows = [list(v) if isinstance(v, (list, tuple, np.ndarray)) else [] if is_missing(v) else str(v).split(sep)
                for v in values]
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        flat = pd.Series([t for row in rows for t in row], dtype=object)
    missing = flat.isna().to_numpy(dtype=bool, copy=True)
    if not pd.api.types.is_numeric_dtype(flat):
        missing |= flat.to_numpy(dtype=object) == ""
    if missing.any():
        rows_of = np.repeat(np.arange(len(lengths)), lengths)
        lengths = lengths - np.bincount(rows_of[missing], minlength=len(lengths))
        flat = flat[~missing]
    return flat.reset_index(drop=True), lengths


def labels01(column: pd.Series, source: str, field: str, row_offset: int) -> np.ndarray:
    """float32 0/1 labels; anything else (missing included) is an error naming the first bad row."""
    values = numbers(column, source, field, row_offset)
    bad = np.flatnonzero(~np.isin(values, (0.0, 1.0)))
    if len(bad):
        i = int(bad[0])
        raise FeatureError(f"{where(source, field, row_offset + i + 1)}: label {column.iloc[i]!r} is not 0/1 "
                           f"({len(bad)} such row(s) in this chunk)")
    return values.astype(np.float32)

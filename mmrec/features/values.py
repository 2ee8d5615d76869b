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
    values = column.to_numpy(dtype=object)
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


def token_lists(column: pd.Series, sep: str) -> list[list[str]]:
    """Per row, a list of string tokens: from a list / array value or a ``sep``-joined string; missing -> []."""
    out = []
    for v in column.to_numpy(dtype=object):
        if isinstance(v, (list, tuple, np.ndarray)):
            items = list(v)
        elif is_missing(v):
            items = []
        else:
            items = str(v).split(sep)
        out.append([str(int(t)) if isinstance(t, (float, np.floating)) and float(t).is_integer() else str(t)
                    for t in items if not is_missing(t)])
    return out


def labels01(column: pd.Series, source: str, field: str, row_offset: int) -> np.ndarray:
    """float32 0/1 labels; anything else (missing included) is an error naming the first bad row."""
    values = numbers(column, source, field, row_offset)
    bad = np.flatnonzero(~np.isin(values, (0.0, 1.0)))
    if len(bad):
        i = int(bad[0])
        raise FeatureError(f"{where(source, field, row_offset + i + 1)}: label {column.iloc[i]!r} is not 0/1 "
                           f"({len(bad)} such row(s) in this chunk)")
    return values.astype(np.float32)

"""Timestamps in whatever form users export them, turned into one representation: int64 seconds since the epoch, UTC.

Accepted per column (one kind per column, decided by its values):
- numbers (Unix seconds; strings of digits too, as CSV gives them; fractional seconds are floored);
- ISO 8601 strings: ``2020-10-27T21:26:40``, ``2020-10-27 21:26:40.250``, ``2020-10-27T21:26:40+02:00``,
  ``...Z``, a bare date; a string without a zone is taken as UTC, and different zones in one column are
  each converted to UTC, so ordering across zones is true time order;
- datetime columns (parquet ``timestamp`` types, naive = UTC, or tz-aware).
Anything else stops with one :class:`DataError` naming the file, line, column and the value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmrec.data.errors import DataError

_EPOCH = pd.Timestamp(0, tz="UTC")
_ONE_SECOND = pd.Timedelta(seconds=1)
_HINT = "a timestamp must be Unix seconds or an ISO 8601 date-time such as 2020-10-27T21:26:40"


def _seconds(datetimes: pd.Series) -> np.ndarray:
    return ((datetimes - _EPOCH) // _ONE_SECOND).to_numpy(dtype=np.int64)


def _fail(file, first_line: int, column: str, values: pd.Series, bad: np.ndarray, why: str):
    row = int(np.flatnonzero(bad)[0])
    value = values.iloc[row]
    value = value.item() if isinstance(value, np.generic) else value  # numpy scalars print as plain values
    raise DataError(file, f"{why}: {value!r} ({_HINT})", row=first_line + row, column=column)


def parse_numbers(values: pd.Series) -> np.ndarray:
    """float64 per value, NaN where it is not a finite number (numpy's parser first: ~8x pandas' on strings)."""
    if pd.api.types.is_bool_dtype(values):
        return np.full(len(values), np.nan)
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except (ValueError, TypeError):
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isfinite(numbers), numbers, np.nan)


def _is_number(value) -> bool:
    try:
        return bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


def to_seconds(values: pd.Series, file, first_line: int, column: str = "timestamp") -> np.ndarray:
    """int64 seconds (UTC) for every value of ``values``; the first bad value raises :class:`DataError`."""
    values = values.reset_index(drop=True)
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
        stamps = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
        if stamps.isna().any():
            _fail(file, first_line, column, values, stamps.isna().to_numpy(), "missing timestamp")
        return _seconds(stamps)
    if pd.api.types.is_bool_dtype(values):
        _fail(file, first_line, column, values, np.ones(len(values), dtype=bool), "not a timestamp")
    if pd.api.types.is_integer_dtype(values) and not values.isna().any():
        return values.to_numpy(dtype=np.int64)
    if pd.api.types.is_numeric_dtype(values) or _is_number(values.iloc[0]):  # a numeric column: all numbers
        try:
            return _whole(values) if pd.api.types.is_float_dtype(values) else np.asarray(values, dtype=np.int64)
        except (ValueError, TypeError, OverflowError):
            numbers = parse_numbers(values)
        if np.isnan(numbers).any():
            _fail(file, first_line, column, values, np.isnan(numbers), "not a number")
        return np.floor(numbers).astype(np.int64)
    text = values.astype(str).str.strip()
    stamps = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    bad = stamps.isna().to_numpy() | text.str.fullmatch(r"[+-]?\d+(\.\d*)?").to_numpy()  # a bare number: mixed
    if bad.any():
        _fail(file, first_line, column, values, bad, "not a timestamp")
    return _seconds(stamps)


def _whole(values: pd.Series) -> np.ndarray:
    """A float column of whole numbers as int64; anything else raises ValueError (the slow path decides)."""
    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(numbers).all() or (numbers % 1 != 0).any():
        raise ValueError("not whole numbers")
    return numbers.astype(np.int64)

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
    raise DataError(file, f"{why}: {values.iloc[row]!r} ({_HINT})", row=first_line + row, column=column)


def to_seconds(values: pd.Series, file, first_line: int, column: str = "timestamp") -> np.ndarray:
    """int64 seconds (UTC) for every value of ``values``; the first bad value raises :class:`DataError`."""
    values = values.reset_index(drop=True)
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
        stamps = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
        if stamps.isna().any():
            _fail(file, first_line, column, values, stamps.isna().to_numpy(), "missing timestamp")
        return _seconds(stamps)
    if pd.api.types.is_bool_dtype(values):
        _fail(file, first_line, column, values, np.ones(len(values), bool), "not a timestamp")
    text = values.astype(str).str.strip()
    numbers = pd.to_numeric(values if pd.api.types.is_numeric_dtype(values) else text, errors="coerce")
    is_number = numbers.notna().to_numpy() & np.isfinite(numbers.to_numpy(dtype=float, na_value=np.nan))
    if is_number[0]:  # the column is numeric: every value must be a finite number
        if not is_number.all():
            _fail(file, first_line, column, values, ~is_number, "not a number")
        return np.floor(numbers.to_numpy(dtype=np.float64)).astype(np.int64)
    stamps = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    bad = stamps.isna().to_numpy() | is_number  # a bare number among dates is a mixed column: refuse it
    if bad.any():
        _fail(file, first_line, column, values, bad, "not a timestamp")
    return _seconds(stamps)

"""The one error type of feature declaration, fitting and encoding: its message names file, row and field."""

from __future__ import annotations


class FeatureError(ValueError):
    """Bad feature declarations or data; the message says where (file, row, field) and what was expected."""


def where(source: str, field: str, row: int | None = None) -> str:
    """``"train.csv row 17, field 'price'"`` (row is the 1-based data row, header excluded)."""
    return f"{source}{f' row {row}' if row is not None else ''}, field '{field}'"

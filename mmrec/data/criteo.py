"""Criteo display-advertising logs in the Kaggle challenge layout, as a CTR table with its field declarations.

``train.txt``: one impression a line, tab-separated, no header: ``label`` (0/1), 13 integer features
``I1..I13`` (mostly counts; may be negative), 26 categorical features ``C1..C26`` (32-bit hashes written as 8
hex digits); an empty field is a missing value. Lines are in time order, so the first ``max_rows`` are the
earliest impressions. Numerics are float64 (exact for every count; NaN = missing); categoricals stay strings
(Arrow backed, so millions of rows stay compact; <NA> = missing) for the typed feature layer
(``mmrec/features/``) to encode.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from mmrec.data.delimited import iter_delimited
from mmrec.data.errors import DataError

NUMERIC = [f"I{i}" for i in range(1, 14)]
CATEGORICAL = [f"C{i}" for i in range(1, 27)]
COLUMNS = ["label", *NUMERIC, *CATEGORICAL]


@dataclasses.dataclass(frozen=True)
class FieldDecl:
    """One input field of a CTR table: its column and whether it is a number or a category."""

    name: str
    kind: Literal["numeric", "categorical"]


@dataclasses.dataclass
class CTRTable:
    """A CTR log: ``frame`` holds ``label`` (int8) and one column per declared field."""

    name: str
    frame: pd.DataFrame
    fields: list[FieldDecl]
    label: str = "label"


def _typed_chunk(path: Path, first_line: int, raw: pd.DataFrame) -> pd.DataFrame:
    label = raw["label"]
    bad = ~label.isin(["0", "1"]).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(path, f"label must be 0 or 1, got {label.iloc[row]!r}", row=first_line + row, column="label")
    out = {"label": label.astype(np.int8).to_numpy()}
    for column in NUMERIC:
        text = raw[column]
        values = pd.to_numeric(text, errors="coerce")
        bad = (values.isna() & (text != "")).to_numpy() | (values.notna() & (values % 1 != 0)).to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(path, f"not an integer: {text.iloc[row]!r}", row=first_line + row, column=column)
        out[column] = values.to_numpy(dtype=np.float64)  # exact for all Criteo counts (> 2**24 occur)
    for column in CATEGORICAL:
        out[column] = raw[column].where(raw[column] != "").astype("string[pyarrow]")
    return pd.DataFrame(out)


def load_criteo(path: str | Path, max_rows: int | None = None, chunk_rows: int = 250_000) -> CTRTable:
    """Read ``train.txt`` (or a folder holding it); the first bad line stops with its line and column."""
    path = Path(path)
    if path.is_dir():
        path = path / "train.txt"
    chunks = [_typed_chunk(path, first, raw) for first, raw in iter_delimited(path, COLUMNS, "\t", max_rows=max_rows,
                                                                              chunk_rows=chunk_rows)]
    frame = pd.concat(chunks, ignore_index=True)
    fields = [FieldDecl(c, "numeric") for c in NUMERIC] + [FieldDecl(c, "categorical") for c in CATEGORICAL]
    return CTRTable(name="criteo", frame=frame, fields=fields)

"""A small synthetic event frame using every field kind."""

from __future__ import annotations

import pandas as pd
import pytest

from mmrec.features import parse_fields

ENTRIES = [
    {"name": "user", "type": "categorical", "min_count": 2},
    {"name": "item", "type": "categorical"},
    {"name": "genres", "type": "multi_categorical", "pooling": "mean"},
    {"name": "price", "type": "numeric", "normaliser": "log"},
    {"name": "age", "type": "numeric", "normaliser": "minmax"},
    {"name": "ctx", "type": "context", "source": "ts", "parts": ["hour", "weekday", "recency"], "reference": "prev_ts"},
    {"name": "hist", "type": "sequence", "max_len": 3, "vocabulary_of": {"item": "item"},
     "fields": [{"name": "item", "type": "categorical", "source": "hist_item"},
                {"name": "t", "type": "numeric", "source": "hist_t"}]},
    {"name": "dom", "type": "domain"},
    {"name": "txt", "type": "embedding", "source": "item"},
    {"name": "click", "type": "label"},
]


@pytest.fixture
def fields():
    return parse_fields(ENTRIES)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "user": ["a", "a", "b", "c"], "item": ["i1", "i2", "i3", "i1"], "genres": ["x|y", "y", "", None],
        "price": [1.0, None, 3.0, 10.0], "age": [20, 30, 40, 60],
        "ts": [0, 3600 * 5, 86400 * 2, 100], "prev_ts": [0, 0, 86400, 0],
        "hist_item": ["i1|i2", "i2", [], "i1|i2|i3|i1"], "hist_t": ["1|2", "3", "", "1|2|3|4"],
        "dom": [1, 2, 1, 1], "click": [1, 0, 1, 0]})


@pytest.fixture
def embeddings():
    return {"txt": (["i1", "i2"], 4)}

"""The feature layer's NumPy path for history columns (one array per row, as mmrec.data.ml100k_ctr builds them)
encodes exactly what the same histories give as Python lists or as "|"-joined strings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from mmrec.features import FeatureMap, frame_chunks, parse_fields

FIELDS = parse_fields([
    {"name": "item", "type": "categorical"},
    {"name": "tags", "type": "multi_categorical", "max_len": 3},
    {"name": "hist", "type": "sequence", "max_len": 4, "vocabulary_of": {"h_item": "item"},
     "fields": [{"name": "h_item", "type": "categorical"}, {"name": "h_kind", "type": "categorical"},
                {"name": "h_age", "type": "numeric"}]},
    {"name": "click", "type": "label"},
])
ITEMS = [[], [7], [7, 8, 9], [9, 8, 7, 8, 9, 12]]  # 12: never a target item -> out of vocabulary
KINDS = [[], ["a"], ["a", "b", "a"], ["b", "b", "a", "a", "b", "c"]]
AGES = [[], [0.5], [3.0, 2.0, 1.0], [6.0, 5.0, 4.0, 3.0, 2.0, 1.5]]


def _frame(form) -> pd.DataFrame:
    column = {"array": lambda rows: pd.Series([np.asarray(r) for r in rows], dtype=object),
              "list": lambda rows: pd.Series([list(r) for r in rows], dtype=object),
              "text": lambda rows: pd.Series(["|".join(map(str, r)) for r in rows], dtype=object)}[form]
    return pd.DataFrame({"item": [7, 8, 9, 7], "tags": ["x|y", "y", "", "x|z|y|x"], "click": [1, 0, 1, 0],
                         "h_item": column(ITEMS), "h_kind": column(KINDS), "h_age": column(AGES)})


def test_array_list_and_text_histories_encode_alike():
    encoded = {}
    for form in ("array", "list", "text"):
        fmap = FeatureMap.fit(FIELDS, frame_chunks(_frame(form), form, rows=3))  # two chunks
        encoded[form] = fmap.encode(_frame(form))
        assert fmap.entry("item").vocab == ["7", "8", "9"]
    for form in ("list", "text"):
        for key, value in encoded["array"].items():
            assert torch.equal(torch.nan_to_num(value, -9.0), torch.nan_to_num(encoded[form][key], -9.0)), (form, key)
    items = encoded["array"]["hist.h_item"]
    assert items.tolist() == [[0, 0, 0, 0], [0, 0, 0, 2], [0, 2, 3, 4], [2, 3, 4, 1]]  # the last 4, oldest first
    ages = encoded["array"]["hist.h_age"]
    assert torch.isnan(ages[0]).all() and torch.isnan(ages[2, 0]) and not torch.isnan(ages[3]).any()

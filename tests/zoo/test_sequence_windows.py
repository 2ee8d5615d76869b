"""The feature layer embeds only the sequence columns a zoo model reads: a flat model none, a DIN its
``max_history`` most recent events; the scores are the same as with every column embedded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.models.zoo.din import DIN, DINConfig
from mmrec.models.zoo.dnn import DNN, DNNConfig
from mmrec.train.common import seed_everything

FIELDS = parse_fields([{"name": "item", "type": "categorical"},
                       {"name": "history", "type": "sequence", "max_len": 12, "vocabulary_of": {"hist_item": "item"},
                        "fields": [{"name": "hist_item", "type": "categorical"}, {"name": "hist_age", "type": "numeric"}]},
                       {"name": "click", "type": "label"}])


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 13, n)
    return pd.DataFrame({"item": rng.integers(0, 30, n).astype(str),
                         "hist_item": ["|".join(map(str, rng.integers(0, 30, k))) for k in lengths],
                         "hist_age": ["|".join(f"{a:.1f}" for a in rng.random(k)) for k in lengths],
                         "click": rng.integers(0, 2, n)})


def test_only_the_read_columns_are_embedded_and_scores_do_not_change():
    fmap = FeatureMap.fit(FIELDS, frame_chunks(_frame(400, 0)))
    batch = fmap.encode(_frame(64, 1), labels=False)
    seed_everything(0)
    din = DIN(DINConfig(embed_dim=4, hidden_units=[8], target_fields=["item"], history_fields=["hist_item"],
                        max_history=5), fmap).eval()
    assert din.features.sequence_windows == {"history": 5}
    emb = din.features(din.features.pack(batch))
    assert emb.sequences["history"]["history.hist_item"].shape[1] == 5 and emb.masks["history"].shape == (64, 5)
    windowed = din(batch)
    din.features.sequence_windows = None  # every column embedded, the model slicing the recent 5 itself
    torch.testing.assert_close(din(batch), windowed, rtol=0, atol=0)
    dnn = DNN(DNNConfig(embed_dim=4, hidden_units=[8]), fmap).eval()
    assert dnn.features.sequence_windows == {} and not dnn.features(dnn.features.pack(batch)).sequences

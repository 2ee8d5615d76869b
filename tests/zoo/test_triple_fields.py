"""The triple-expert item side on the feature layer (``zoo_din_te``, ``zoo_din_mm_te``, ``zoo_diff_msin_te``):
counts from the training events, never-seen items scored by their own content, and an exact Hub round trip
(item counts included)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mmrec import catalogue
from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.hub import load_model
from mmrec.models.zoo.triple import item_counts
from mmrec.train.common import seed_everything

FIELDS = [{"name": "item", "type": "categorical"}, {"name": "category", "type": "categorical"},
          {"name": "text", "type": "embedding", "source": "item"},
          {"name": "image", "type": "embedding", "source": "item"},
          {"name": "history", "type": "sequence", "max_len": 6,
           "vocabulary_of": {"hist_item": "item", "hist_category": "category"},
           "fields": [{"name": "hist_item", "type": "categorical"}, {"name": "hist_category", "type": "categorical"}]},
          {"name": "click", "type": "label"}]
TE_MODELS = ["zoo_din_te", "zoo_din_mm_te", "zoo_diff_msin_te"]


def _frame(n: int, seed: int, n_items: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    items = np.minimum(rng.geometric(0.12, n) - 1, n_items - 1)  # a popular head and a long tail
    hist = [rng.integers(0, n_items, k) for k in rng.integers(0, 7, n)]
    return pd.DataFrame({"item": items.astype(str), "category": (items % 4).astype(str),
                         "hist_item": ["|".join(map(str, h)) for h in hist],
                         "hist_category": ["|".join(map(str, h % 4)) for h in hist],
                         "click": rng.integers(0, 2, n)})


@pytest.fixture(scope="module")
def world():
    frame = _frame(500, 0)
    ids = [str(i) for i in range(40)]  # items 30..39 never occur in training: out of the vocabulary
    g = torch.Generator().manual_seed(0)
    tables = {"text": torch.randn(41, 8, generator=g), "image": torch.randn(36, 6, generator=g)}
    for t in tables.values():
        t[0] = 0
    fmap = FeatureMap.fit(parse_fields(FIELDS), frame_chunks(frame), {"text": (ids, 8), "image": (ids[:35], 6)})
    return fmap, tables, frame, item_counts(fmap, fmap.encode(frame))


def _model(world, name, **params):
    fmap, tables, _, counts = world
    seed_everything(0)
    config = catalogue.model_config(name, {"embed_dim": 8, "hidden_units": [16], **params}, name)
    return catalogue.lookup(name).model_class(config, fmap, tables, item_counts=counts)


def test_item_counts_are_training_events_per_item_index():
    frame = pd.DataFrame({"item": ["a", "b", "a", "c", "a", "b"], "click": [0] * 6})
    fmap = FeatureMap.fit(parse_fields([FIELDS[0], FIELDS[-1]]), frame_chunks(frame))
    counts = item_counts(fmap, fmap.encode(pd.concat([frame, frame.iloc[:1].assign(item="unseen")])))
    assert fmap.entry("item").vocab == ["a", "b", "c"]
    assert counts.tolist() == [0, 0, 3, 2, 1]  # padding and out-of-vocabulary ("unseen") stay never seen
    with pytest.raises(ValueError, match="not a categorical"):
        item_counts(fmap, {}, "click")


def test_te_variants_need_the_item_counts(world):
    fmap, tables, _, _ = world
    config = catalogue.model_config("zoo_din_te", {"embed_dim": 8}, "t")
    with pytest.raises(ValueError, match="item_side 'triple' needs item_counts"):
        catalogue.lookup("zoo_din_te").model_class(config, fmap, tables)


def test_never_seen_targets_get_no_id_weight_and_their_own_content(world):
    """Two out-of-vocabulary targets share the OOV row: plain DIN gives them one item vector, the triple side
    gives each its content's vector (and ID weight 0); a popular item leans on its ID at the start."""
    fmap, _, frame, counts = world
    model = _model(world, "zoo_din_te").eval()
    rows = frame.iloc[:2].assign(item=["31", "33"]).drop(columns="click")
    batch = model.features.pack(fmap.encode(rows, labels=False))
    target, _ = model.items.ids(model.features(batch), batch)
    assert (model.items.target_items(batch) == 1).all() and not torch.allclose(target[0], target[1])
    weights = model.items.triple.weights(torch.tensor([1, 2]))
    assert weights[0, 0] == 0 and weights[1, 0] > weights[1, 1]  # OOV: content only; the top item: ID first
    plain = catalogue.lookup("zoo_din").model_class(catalogue.model_config("zoo_din", {"embed_dim": 8}, "t"), fmap)
    emb = plain.features(batch)
    torch.testing.assert_close(emb.flat[:, 0][0], emb.flat[:, 0][1])


@pytest.mark.parametrize("name", TE_MODELS)
def test_te_models_round_trip_through_the_hub(world, name, tmp_path):
    model = _model(world, name)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    rows = _frame(40, 5, n_items=40).drop(columns="click").to_dict(orient="records")  # never-seen items too
    before = model.predict(rows)
    model.save_pretrained(tmp_path / name)
    loaded = load_model(tmp_path / name)
    assert type(loaded) is type(model) and loaded.items.triple is not None
    assert torch.equal(loaded.item_counts, world[3])
    np.testing.assert_array_equal(loaded.predict(rows), before)

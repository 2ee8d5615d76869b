"""The feature layer: shapes, padding / missing handling, shared sequence vocabulary, frozen vectors, regulariser."""

from __future__ import annotations

import pytest
import torch

from mmrec.features import FeatureMap, frame_chunks
from mmrec.features.layer import FeatureLayer


@pytest.fixture
def setup(fields, frame, embeddings):
    fmap = FeatureMap.fit(fields, frame_chunks(frame), embeddings)
    table = torch.randn(3, 4)
    table[0] = 0
    torch.manual_seed(0)
    return fmap, FeatureLayer(fmap, 6, {"txt": table}, linear=True), fmap.encode(frame)


def test_flat_embeddings_one_slot_per_field(setup):
    fmap, layer, enc = setup
    out = layer(enc)
    assert layer.field_names == ["user", "item", "ctx.hour", "ctx.weekday", "dom", "genres", "price", "age",
                                 "ctx.recency", "txt"]
    assert out.flat.shape == (4, len(layer.field_names), 6)
    genres = out.flat[:, layer.field_names.index("genres")]
    assert torch.allclose(genres[2], torch.zeros(6)) and torch.allclose(genres[3], torch.zeros(6))  # no genres
    table = layer.field_table("genres")
    assert torch.allclose(genres[0], (table[3] + table[2]) / 2)  # mean of x, y; padding masked
    price = out.flat[1, layer.field_names.index("price")]
    assert torch.equal(price, layer.numeric_missing[0])  # missing value -> the learned missing vector


def test_sequence_shares_the_flat_item_table_and_masks_padding(setup):
    fmap, layer, enc = setup
    out = layer(enc)
    items = out.sequences["hist"]["hist.item"]
    assert items.shape == (4, 3, 6)
    assert out.masks["hist"].tolist() == [[False, True, True], [False, False, True], [False] * 3, [True] * 3]
    assert torch.equal(items[3, 2], layer.field_table("item")[2])  # i1 in history == i1 as target
    assert torch.equal(items[0, 0], torch.zeros(6))


def test_frozen_vectors_stay_frozen_and_project(setup):
    fmap, layer, enc = setup
    before = layer.frozen_txt.clone()
    layer(enc).flat.sum().backward()
    assert not layer.frozen_txt.requires_grad and torch.equal(before, layer.frozen_txt)
    assert layer.project["txt"].weight.grad is not None
    with pytest.raises(ValueError, match="pretrained table is"):
        FeatureLayer(fmap, 6, {"txt": torch.zeros(5, 4)})


def test_regulariser_is_half_squared_norm_of_the_tables(setup):
    _, layer, _ = setup
    expected = 0.5 * (layer.table.weight.pow(2).sum() + layer.linear.table.weight.pow(2).sum())
    assert torch.allclose(layer.regularization(), expected)


def test_first_order_adds_one_weight_per_field(setup):
    _, layer, enc = setup
    with torch.no_grad():
        for p in layer.linear.parameters():
            p.zero_()
        layer.linear.table.weight[1:] = 1.0
        layer.linear.numeric_weight[:] = torch.tensor([10.0, 0.0, 0.0])  # price, age, recency
    x = layer.first_order(enc)
    price = torch.nan_to_num(enc["price"], nan=0.0)
    # user, item, hour, weekday, domain: 1 each (OOV included); genres: mean 1 when present, 0 when empty
    assert torch.allclose(x, torch.tensor([6.0, 6.0, 5.0, 5.0]) + 10 * price)

"""Batching: padded histories, feature tables, modality files."""

from __future__ import annotations

import torch

from mmrec.core.modalities import load_modalities, save_modalities
from mmrec.data.ctr_batches import pad_histories


def test_pad_histories_keeps_the_latest_items_oldest_first():
    ids, mask = pad_histories([[], [5], [1, 2, 3, 4]], 3)
    assert ids.tolist() == [[0, 0, 0], [5, 0, 0], [2, 3, 4]]
    assert mask.tolist() == [[False] * 3, [True, False, False], [True] * 3]


def test_batches_cover_every_sample_once(tiny_samples):
    seen = torch.cat([b.item for b in tiny_samples.batches(10, shuffle=True,
                                                           generator=torch.Generator().manual_seed(0))])
    assert sorted(seen.tolist()) == sorted(tiny_samples.item.tolist())
    batch = tiny_samples.batch(torch.tensor([3, 4]))
    assert batch.user_features.shape == (2, 2) and batch.item_genres.shape == (2, 5)


def test_modalities_round_trip_and_mask(tmp_path, tiny_modalities):
    emb, present = tiny_modalities["image"]
    dirty = emb.clone()
    dirty[~present] = 7.0  # whatever sits in an absent row is ignored
    save_modalities(tmp_path, {"image": (dirty, present), "text": tiny_modalities["text"]})
    loaded = load_modalities(tmp_path)
    assert list(loaded) == ["text", "image"]
    assert torch.equal(loaded["image"][0], emb) and torch.equal(loaded["image"][1], present)


def test_user_features_from_ml100k(ml100k_tables):
    from mmrec.data.ctr_batches import item_genre_matrix, user_feature_matrix

    features, sizes = user_feature_matrix(ml100k_tables, ["age", "gender", "occupation"])
    assert features.shape == (ml100k_tables.n_users + 1, 3) and sizes == [8, 3, 22]
    assert features[0].tolist() == [0, 0, 0] and (features[1:] > 0).all()
    genres = item_genre_matrix(ml100k_tables)
    assert genres.shape == (ml100k_tables.n_items + 1, 18) and (genres[1:].sum(1) >= 1).float().mean() > 0.99

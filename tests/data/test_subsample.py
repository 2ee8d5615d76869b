"""The sparse setting: a seeded share of each user's interactions, in order, aligned across columns."""

from pathlib import Path

import numpy as np
import pytest

from mmrec.data.subsample import kept_positions, subsample_users
from mmrec.recipe import load_recipe
from mmrec.stages.prepare import build_splits

REPO = Path(__file__).resolve().parents[2]


def test_kept_positions_by_hand():
    keep = kept_positions([0, 2, 10, 100], fraction=0.2, min_keep=3, seed=0)
    assert [len(k) for k in keep] == [0, 2, 3, 20]  # empty stays empty, too short keeps all, floor of 3, 20 %
    assert all((np.diff(k) > 0).all() for k in keep)  # time order kept, no repeats
    assert keep[3].max() < 100 and keep[2].max() < 10
    again = kept_positions([0, 2, 10, 100], fraction=0.2, min_keep=3, seed=0)
    other = kept_positions([0, 2, 10, 100], fraction=0.2, min_keep=3, seed=1)
    assert all((a == b).all() for a, b in zip(keep, again)) and not (keep[3] == other[3]).all()
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        kept_positions([5], fraction=0.0, min_keep=1, seed=0)


def test_subsample_users_keeps_columns_aligned():
    items = [np.arange(50) + 100 * u for u in range(3)]
    stamps = [np.arange(50) * 10 + u for u in range(3)]
    sub_items, sub_stamps = subsample_users([items, stamps], 0.3, 1, seed=4)
    for a, b, u in zip(sub_items, sub_stamps, range(3)):
        assert len(a) == 15 and ((a - 100 * u) * 10 + u == b).all()


def test_sparse_ml100k_split(ml100k_tables):
    cfg = load_recipe(REPO / "recipes" / "ml-100k.yaml", ["split.kinds=[leave-one-out]", "split.interaction_fraction=0.2"])
    split = build_splits(ml100k_tables, cfg)["leave-one-out"]
    n_train = sum(len(s) for s in split.train)
    assert len(split.test) == 943  # every user keeps >= 3 interactions
    assert 0.18 * 100_000 < n_train + 2 * 943 < 0.22 * 100_000
    # far more cold items than the full data (at most 5 training interactions)
    assert (split.item_train_counts()[1:] <= 5).mean() > 0.5

"""Split invariants of EVALUATION.md on the real ml-100k, plus hand-checked tiny cases."""

import numpy as np

from mmrec.data.splits import CTRSplit, SequentialSplit, ctr_time_split, leave_one_out, new_items, user_sequences
from mmrec.stages.prepare import build_splits


def test_user_sequences_sort_by_time_then_file_order():
    users = np.array([1, 1, 1, 2, 2])
    items = np.array([10, 11, 12, 13, 14])
    stamps = np.array([5, 3, 5, 9, 1])
    seqs = user_sequences(users, items, stamps, np.arange(5), n_users=2)
    assert [s.tolist() for s in seqs] == [[], [11, 10, 12], [14, 13]]


def test_leave_one_out_by_hand():
    seqs = [np.array([], dtype=np.int64), np.array([1, 2, 3, 4]), np.array([5, 6]), np.array([2, 5, 6])]
    split = leave_one_out(seqs, n_items=6)
    assert split.train[1].tolist() == [1, 2] and split.train[2].tolist() == []  # user 2 has < 3: dropped
    assert split.test.users.tolist() == [1, 3] and split.test.targets.tolist() == [4, 6]
    assert split.valid.targets.tolist() == [3, 5]
    assert split.test.histories[0].tolist() == [1, 2, 3]
    assert split.item_train_counts().tolist() == [0, 1, 2, 0, 0, 0, 0]


def test_leave_one_out_ml100k(ml100k_splits):
    split = ml100k_splits["leave-one-out"]
    assert len(split.test) == len(split.valid) == 943
    for u, hist, target in zip(split.test.users, split.test.histories, split.test.targets):
        assert target not in split.train[u]  # ml-100k has no repeat consumption
        assert hist[-1] == split.valid.targets[split.valid.users.tolist().index(u)]
    assert sum(len(s) for s in split.train) == 100_000 - 2 * 943


def test_new_items_ml100k(ml100k_splits):
    split = ml100k_splits["new-items"]
    new = set(split.new_items.tolist())
    assert len(new) == round(0.2 * 1682)
    trained = set(np.concatenate(split.train).tolist())
    assert not (trained & new)  # new items are never in any training sequence
    assert set(split.test.targets.tolist()) <= new and set(split.valid.targets.tolist()) <= new
    counts = split.item_train_counts()
    assert (counts[split.new_items] == 0).all()
    # the test case is the user's LAST new-item interaction; validation comes before it
    for u, hist, target in zip(split.test.users[:50], split.test.histories[:50], split.test.targets[:50]):
        v = split.valid.users.tolist().index(u) if u in split.valid.users else None
        if v is not None:
            assert len(split.valid.histories[v]) < len(hist)
            assert split.valid.targets[v] in hist


def test_new_items_training_stops_at_the_test_target_by_hand():
    # items 1..6 all interacted; which half is new is seeded, so the sequences are written in terms of it
    probe = [np.array([], dtype=np.int64), np.arange(1, 7)]
    new = new_items(probe, n_items=6, fraction=0.5, min_user_interactions=1, seed=0).new_items
    warm = np.setdiff1d(np.arange(1, 7), new)
    # user 1: warm, new (valid), warm, new (test), warm, warm -> the two warm events after the test are not training
    seq = np.array([warm[0], new[0], warm[1], new[1], warm[2], warm[0]])
    # user 2: a new item first (nothing before it: no case), then warm items -> the whole warm sequence trains
    split = new_items([probe[0], seq, np.r_[new[2], warm]], n_items=6, fraction=0.5, min_user_interactions=1, seed=0)
    assert split.new_items.tolist() == new.tolist()
    assert split.test.targets.tolist() == [new[1]] and split.valid.targets.tolist() == [new[0]]
    assert split.train[1].tolist() == [warm[0], warm[1]]
    assert split.train[2].tolist() == warm.tolist()


def test_new_items_ml100k_trains_only_on_the_period_before_the_test(ml100k_splits, ml100k_tables):
    from mmrec.data.tables import numpy_columns

    split = ml100k_splits["new-items"]
    users, items, stamps, order = numpy_columns(ml100k_tables.interactions, "user_idx", "item_idx", "timestamp", "order")
    seqs = user_sequences(users, items, stamps, order, ml100k_tables.n_users)
    is_new = np.isin(np.arange(split.n_items + 1), split.new_items)
    tested = set(split.test.users.tolist())
    dropped = 0
    for u, hist in zip(split.test.users, split.test.histories):
        assert split.train[u].tolist() == hist[~is_new[hist]].tolist()  # exactly the warm part of the history
        dropped += int((~is_new[seqs[u][len(hist):]]).sum())
    for u in range(1, len(seqs)):
        if u not in tested and len(split.train[u]):
            assert split.train[u].tolist() == seqs[u][~is_new[seqs[u]]].tolist()
    assert dropped > 1000  # the old split trained on these future events


def test_splits_are_deterministic_and_seeded(ml100k_tables, ml100k_recipe):
    again = build_splits(ml100k_tables, ml100k_recipe)["new-items"]
    first = build_splits(ml100k_tables, ml100k_recipe)["new-items"]
    assert first.new_items.tolist() == again.new_items.tolist()
    assert first.test.targets.tolist() == again.test.targets.tolist()
    ml100k_recipe_other = type(ml100k_recipe)(**{**ml100k_recipe.__dict__, "seed": 1})
    other = build_splits(ml100k_tables, ml100k_recipe_other)["new-items"]
    assert other.new_items.tolist() != first.new_items.tolist()


def test_split_round_trip(tmp_path, ml100k_splits):
    split = ml100k_splits["new-items"]
    split.save(tmp_path / "s")
    again = SequentialSplit.load(tmp_path / "s")
    assert again.new_items.tolist() == split.new_items.tolist()
    assert all(a.tolist() == b.tolist() for a, b in zip(again.train, split.train))
    assert all(a.tolist() == b.tolist() for a, b in zip(again.test.histories, split.test.histories))
    ctr = ml100k_splits["ctr"]
    ctr.save(tmp_path / "c")
    assert CTRSplit.load(tmp_path / "c").summary() == ctr.summary()


def test_load_prepared_reads_only_the_named_kinds(tmp_path, ml100k_tables, ml100k_splits):
    from mmrec.data.prepared import load_prepared

    ml100k_tables.save(tmp_path / "tables")
    for kind, split in ml100k_splits.items():
        split.save(tmp_path / "splits" / kind)
    assert set(load_prepared(tmp_path)[1]) == {"leave-one-out", "new-items", "ctr"}
    tables, only_ctr = load_prepared(tmp_path, kinds=("ctr",))
    assert set(only_ctr) == {"ctr"} and tables.n_items == ml100k_tables.n_items
    assert only_ctr["ctr"].summary() == ml100k_splits["ctr"].summary()


def test_ctr_time_split_by_hand():
    seqs = [np.array([], dtype=np.int64), np.arange(1, 11)]
    ratings = [np.array([]), np.array([5, 1, 4, 3, 5, 2, 4, 4, 1, 5], dtype=float)]
    stamps = [np.array([]), np.arange(100, 110)]
    split = ctr_time_split(seqs, ratings, stamps, n_items=10, test_fraction=0.2, valid_fraction=0.1, max_history=3)
    table = split.table.to_dict()
    assert table["part"] == ["train"] * 7 + ["valid"] + ["test"] * 2
    assert table["label"] == [1, 0, 1, 0, 1, 0, 1, 1, 0, 1]
    assert table["history"][5] == [3, 4, 5] and table["history"][0] == []
    assert table["timestamp"][9] == 109


def test_ctr_implicit_negatives_are_unobserved_and_seeded():
    seqs = [np.array([], dtype=np.int64), np.array([1, 2, 3, 4, 5])]
    no_ratings = [np.array([]), np.full(5, np.nan)]
    stamps = [np.array([]), np.arange(5)]
    a = ctr_time_split(seqs, no_ratings, stamps, n_items=50, negatives_per_positive=2, seed=3)
    b = ctr_time_split(seqs, no_ratings, stamps, n_items=50, negatives_per_positive=2, seed=3)
    labels = np.asarray(a.table["label"])
    items = np.asarray(a.table["item_idx"])
    assert labels.sum() == 5 and len(labels) == 15
    assert not set(items[labels == 0].tolist()) & {1, 2, 3, 4, 5}
    assert items.tolist() == list(b.table["item_idx"])
    assert "sampled unobserved" in a.label_rule


def test_ctr_ml100k(ml100k_splits):
    summary = ml100k_splits["ctr"].summary()
    assert summary["n_train"] + summary["n_valid"] + summary["n_test"] == 100_000
    assert 0.5 < summary["positive_rate"] < 0.6  # ml-100k: 55 % of ratings are >= 4


def test_shared_training_sequences_exclude_every_split_holdout(ml100k_tables, ml100k_splits):
    from mmrec.data.splits import shared_training_sequences
    from mmrec.data.tables import numpy_columns

    users, items, stamps, order = numpy_columns(ml100k_tables.interactions, "user_idx", "item_idx", "timestamp", "order")
    seqs = user_sequences(users, items, stamps, order, ml100k_tables.n_users)
    shared = shared_training_sequences(seqs, list(ml100k_splits.values()))
    loo, new, ctr = ml100k_splits["leave-one-out"], ml100k_splits["new-items"], ml100k_splits["ctr"]
    flat = np.concatenate(shared)
    assert not set(flat.tolist()) & set(new.new_items.tolist())
    ctr_users, ctr_items, ctr_parts = numpy_columns(ctr.table, "user_idx", "item_idx", "part")
    for u in (1, 100, 500):
        assert set(shared[u].tolist()) <= set(loo.train[u].tolist())
        assert set(shared[u].tolist()) <= set(ctr_items[(ctr_users == u) & (ctr_parts == "train")].tolist())
        assert loo.test.targets[loo.test.users.tolist().index(u)] not in shared[u]
    assert 0.5 * 100_000 < len(flat) < 0.7 * 100_000

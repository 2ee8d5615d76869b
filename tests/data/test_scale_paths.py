"""The vectorised data paths that make 20M interactions fit give exactly what the per-row code gave.

Each reference below is the per-user / per-row implementation the project shipped before (Python lists,
one loop iteration per user); the vectorised path must reproduce it value for value, on real ml-100k and on
the seeded synthetic generator of ``benchmarks/synthetic.py``.
"""

from __future__ import annotations

import datasets
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from benchmarks.synthetic import SyntheticSpec, generate, write_dataset
from mmrec.data.ctr_batches import build_ctr_samples, pad_histories, pad_list_rows
from mmrec.data.directory import load_directory
from mmrec.data.splits import EvalCases, SequentialSplit, ctr_time_split, group_by_user, leave_one_out
from mmrec.data.tables import dataset_from_arrow, numpy_columns


def reference_ctr_table(sequences, ratings, timestamps, n_items, click_threshold=4.0, negatives_per_positive=1,
                        test_fraction=0.2, valid_fraction=0.1, max_history=50, min_user_interactions=3, seed=0):
    """The per-user CTR split as shipped before vectorising: one loop iteration (and Python lists) per user."""
    rng = np.random.default_rng(seed)
    users = [u for u in range(1, len(sequences)) if len(sequences[u]) >= min_user_interactions]
    explicit = click_threshold is not None and all(np.isfinite(ratings[u]).all() for u in users)
    reps = 1 if explicit else 1 + negatives_per_positive
    rows = {k: [] for k in ("user_idx", "item_idx", "label", "timestamp", "position", "part", "history")}
    for u in users:
        seq, n = sequences[u], len(sequences[u])
        n_test = max(1, int(round(test_fraction * n)))
        n_valid = max(1, int(round(valid_fraction * n)))
        part = ["train"] * (n - n_test - n_valid) + ["valid"] * n_valid + ["test"] * n_test
        if explicit:
            items, labels = seq.tolist(), (ratings[u] >= click_threshold).astype(np.float32).tolist()
        else:
            negatives = rng.integers(1, n_items + 1, size=(n, negatives_per_positive))
            while (bad := np.isin(negatives, seq)).any():
                negatives[bad] = rng.integers(1, n_items + 1, size=int(bad.sum()))
            items = np.concatenate([seq[:, None], negatives], axis=1).reshape(-1).tolist()
            labels = [1.0, *[0.0] * negatives_per_positive] * n
        for p in range(n):
            for r in range(reps):
                rows["user_idx"].append(u)
                rows["timestamp"].append(int(timestamps[u][p]))
                rows["position"].append(p)
                rows["part"].append(part[p])
                rows["history"].append(seq[max(0, p - max_history):p].tolist())
        rows["item_idx"] += items
        rows["label"] += labels
    return rows


def _grouped(tables):
    users, items, stamps, order, ratings = numpy_columns(
        tables.interactions, "user_idx", "item_idx", "timestamp", "order", "rating")
    return group_by_user(users, stamps, order, tables.n_users, items.astype(np.int64), ratings.astype(np.float64),
                         stamps)


@pytest.fixture(scope="module")
def synthetic_tables(tmp_path_factory):
    root = write_dataset(SyntheticSpec(4_000, users=120, items=300, seed=7), tmp_path_factory.mktemp("syn"))
    return load_directory(root, ["title", "genres"], None)


def test_generator_is_seeded_and_shaped():
    spec = SyntheticSpec(20_000, seed=3)
    inter, items = generate(spec)
    again, _ = generate(spec)
    assert inter.equals(again)
    frame = inter.to_pandas()
    per_user = frame.groupby("user_id").size()
    assert len(frame) == 20_000 and len(per_user) == spec.n_users and per_user.min() >= spec.min_length
    assert per_user.max() > 5 * per_user.median()  # a heavy tail of long users
    counts = frame["item_id"].value_counts().to_numpy()
    assert counts[: len(items) // 100].sum() > 0.25 * len(frame)  # power law: the top 1 % of items take > 25 %
    assert (frame["timestamp"].diff().dropna() >= 0).all()  # a log in time order
    assert set(frame["rating"].unique()) <= {1, 2, 3, 4, 5}


def test_integer_ids_index_like_their_strings(synthetic_tables, tmp_path):
    """Parquet integer IDs (fast path) and the same IDs as CSV strings give identical tables."""
    inter, items = generate(SyntheticSpec(4_000, users=120, items=300, seed=7))
    inter.to_pandas().astype(str).to_csv(tmp_path / "interactions.csv", index=False)
    items.to_pandas().astype(str).to_csv(tmp_path / "items.csv", index=False)
    as_strings = load_directory(tmp_path, ["title", "genres"], None)
    for name in ("interactions", "users", "items"):
        a, b = getattr(synthetic_tables, name), getattr(as_strings, name)
        for column in a.column_names:
            assert a[column] == b[column], (name, column)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    inter.to_pandas().astype({"item_id": str}).to_parquet(mixed / "interactions.parquet")
    items.to_pandas().to_parquet(mixed / "items.parquet")
    assert load_directory(mixed, ["title"], None).interactions["item_idx"] == as_strings.interactions["item_idx"]


@pytest.mark.parametrize("implicit", [False, True])
def test_ctr_split_equals_the_per_user_loop(synthetic_tables, implicit):
    seqs, ratings, stamps = _grouped(synthetic_tables)
    if implicit:
        ratings = [np.full(len(r), np.nan) for r in ratings]
    split = ctr_time_split(seqs, ratings, stamps, synthetic_tables.n_items, max_history=7, negatives_per_positive=2,
                           seed=5, block_events=500)  # several blocks, users cut nowhere
    assert split.table.data.column("history").num_chunks > 3
    expected = reference_ctr_table(seqs, ratings, stamps, synthetic_tables.n_items, max_history=7,
                                   negatives_per_positive=2, seed=5)
    assert split.table.to_dict() == expected


def test_ctr_split_and_samples_equal_the_old_path_on_ml100k(ml100k_tables, ml100k_splits):
    seqs, ratings, stamps = _grouped(ml100k_tables)
    split = ml100k_splits["ctr"]
    assert split.table.to_dict() == reference_ctr_table(seqs, ratings, stamps, ml100k_tables.n_items)
    samples, _ = build_ctr_samples(split, ml100k_tables, 10, ["age", "gender", "occupation"])
    cols = split.table.to_dict()  # the old build: Python lists, then pad_histories per part
    parts = np.asarray(cols["part"])
    for name in ("train", "valid", "test"):
        rows = np.flatnonzero(parts == name)
        history, mask = pad_histories([cols["history"][i] for i in rows], 10)
        assert torch.equal(samples[name].history, history) and torch.equal(samples[name].history_mask, mask)
        assert samples[name].user.tolist() == np.asarray(cols["user_idx"])[rows].tolist()
        assert samples[name].item.tolist() == np.asarray(cols["item_idx"])[rows].tolist()
        assert samples[name].label.tolist() == np.asarray(cols["label"], dtype=np.float32)[rows].tolist()


def test_ctr_samples_read_every_chunk_of_a_saved_split(synthetic_tables, tmp_path):
    seqs, ratings, stamps = _grouped(synthetic_tables)
    split = ctr_time_split(seqs, ratings, stamps, synthetic_tables.n_items, max_history=20, block_events=700)
    split.save(tmp_path / "ctr")
    loaded = type(split).load(tmp_path / "ctr")
    samples, _ = build_ctr_samples(loaded, synthetic_tables, 5, [])
    cols = split.table.to_dict()
    rows = np.flatnonzero(np.asarray(cols["part"]) == "test")
    history, mask = pad_histories([cols["history"][i] for i in rows], 5)
    assert torch.equal(samples["test"].history, history) and torch.equal(samples["test"].history_mask, mask)


@pytest.mark.parametrize("block_rows", [1, 7, 1 << 18])
def test_list_rows_pad_in_blocks_like_the_list_path(block_rows):
    rng = np.random.default_rng(0)
    lists = [rng.integers(1, 50, size=rng.integers(0, 12)).tolist() for _ in range(300)]
    kind = pa.list_(pa.int64())
    column = pa.chunked_array([pa.array(lists[:120], kind), pa.array(lists[120:], kind)])
    rows = np.sort(rng.choice(300, size=170, replace=False))
    history, mask = pad_list_rows(column, rows, 5, block_rows=block_rows)
    expected_history, expected_mask = pad_histories([lists[i] for i in rows], 5)
    assert torch.equal(history, expected_history) and torch.equal(mask, expected_mask)


def test_sequential_split_saves_like_the_list_path_and_loads_back(synthetic_tables, tmp_path):
    seqs, _, _ = _grouped(synthetic_tables)
    split = leave_one_out(seqs, synthetic_tables.n_items)
    split.save(tmp_path / "loo")
    old = datasets.Dataset.from_dict({"user_idx": split.test.users,
                                      "history": [h.tolist() for h in split.test.histories],
                                      "target": split.test.targets})
    assert split.test.to_dataset().to_dict() == old.to_dict()
    assert split.test.to_dataset().features == old.features
    loaded = SequentialSplit.load(tmp_path / "loo")
    assert [s.tolist() for s in loaded.train] == [s.tolist() for s in split.train]
    for part in ("valid", "test"):
        a, b = getattr(loaded, part), getattr(split, part)
        assert a.users.tolist() == b.users.tolist() and a.targets.tolist() == b.targets.tolist()
        assert [h.tolist() for h in a.histories] == [h.tolist() for h in b.histories]
    loaded.train[1][0] = 0  # loaded sequences are ordinary writable arrays, as before
    empty = EvalCases(np.zeros(0, np.int64), [], np.zeros(0, np.int64))
    assert len(EvalCases.from_dataset(empty.to_dataset())) == 0
    assert pa.types.is_list(empty.to_dataset().data.column("history").type)


def test_pandas_int_ids_keep_first_appearance_user_order(tmp_path):
    pd.DataFrame({"item_id": [3, 1, 2], "title": ["c", "a", "b"]}).to_parquet(tmp_path / "items.parquet")
    pd.DataFrame({"user_id": [9, 4, 9, 7], "item_id": [1, 2, 3, 1], "timestamp": [1, 2, 3, 4]}).to_parquet(
        tmp_path / "interactions.parquet")
    tables = load_directory(tmp_path, ["title"], None)
    assert tables.users["user_id"] == ["9", "4", "7"] and tables.items["item_id"] == ["3", "1", "2"]
    assert tables.interactions["item_idx"] == [2, 3, 1, 2] and tables.interactions["user_idx"] == [1, 2, 1, 3]


def test_arrow_datasets_are_fingerprinted_by_content():
    a = dataset_from_arrow(pa.table({"x": np.arange(10), "h": pa.array([[1, 2]] * 10)}))
    b = dataset_from_arrow(pa.table({"x": np.arange(10), "h": pa.array([[1, 2]] * 10)}))
    c = dataset_from_arrow(pa.table({"x": np.arange(10), "h": pa.array([[1, 3]] * 10)}))
    assert a._fingerprint == b._fingerprint != c._fingerprint

"""Evaluation splits of EVALUATION.md: sequential leave-one-out, sequential new-items, CTR time split.

All splits are deterministic for a seed and stored as Arrow tables (Hugging Face ``datasets``).
Users' interactions are sorted by timestamp, ties broken by the order in the file; users with fewer than
``min_user_interactions`` interactions are dropped.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa

from mmrec.core.io import atomic_dir, write_json
from mmrec.data.tables import dataset_from_arrow, numpy_columns


def group_by_user(user_idx: np.ndarray, timestamp: np.ndarray, order: np.ndarray, n_users: int,
                  *columns: np.ndarray) -> list[list[np.ndarray]]:
    """Per column, each user's values in time order (ties by file order); index = user_idx, entry 0 empty."""
    perm = np.lexsort((order, timestamp, user_idx))
    bounds = np.searchsorted(user_idx[perm], np.arange(n_users + 2))
    return [np.split(col[perm], bounds[1:-1]) for col in columns]


def user_sequences(user_idx: np.ndarray, item_idx: np.ndarray, timestamp: np.ndarray, order: np.ndarray,
                   n_users: int) -> list[np.ndarray]:
    """Each user's items in time order (ties by file order); index = user_idx, entry 0 empty."""
    (items,) = group_by_user(user_idx, timestamp, order, n_users, item_idx.astype(np.int64))
    return items


def list_column(rows: list[np.ndarray]) -> pa.ListArray:
    """Variable-length int64 rows as one Arrow list column, without a Python int per value."""
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    values = np.concatenate([np.asarray(r, dtype=np.int64) for r in rows]) if rows else np.zeros(0, np.int64)
    return pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)),
                                    pa.array(values, type=pa.int64()))


def split_list_column(ds: datasets.Dataset, name: str) -> list[np.ndarray]:
    """An Arrow list column back as one writable int64 array per row (views of one buffer)."""
    column = ds.data.column(name).combine_chunks()
    values = np.array(column.values.to_numpy(zero_copy_only=False), dtype=np.int64)
    return np.split(values, column.offsets.to_numpy())[1:-1]


@dataclasses.dataclass
class EvalCases:
    """Next-item cases: for each, the user, the history before the target (time order) and the target."""

    users: np.ndarray
    histories: list[np.ndarray]
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.targets)

    def to_dataset(self) -> datasets.Dataset:
        return dataset_from_arrow(pa.table({"user_idx": np.asarray(self.users, dtype=np.int64),
                                          "history": list_column(self.histories),
                                          "target": np.asarray(self.targets, dtype=np.int64)}))

    @classmethod
    def from_dataset(cls, ds: datasets.Dataset) -> "EvalCases":
        users, targets = numpy_columns(ds, "user_idx", "target")
        return cls(users.astype(np.int64), split_list_column(ds, "history"), targets.astype(np.int64))


@dataclasses.dataclass
class SequentialSplit:
    """Training sequences plus validation and test cases for next-item recommendation.

    ``train[u]`` is user u's training sequence (u = 1..U, entry 0 empty). At evaluation, the items of the
    user's training sequence and of the case's history are masked from the ranking.
    """

    kind: str
    n_items: int
    n_users: int
    train: list[np.ndarray]
    valid: EvalCases
    test: EvalCases
    new_items: np.ndarray  # items never seen in training (new-items split); empty for leave-one-out
    seed: int

    def item_train_counts(self) -> np.ndarray:
        """Training-interaction count per item index 0..N (what the cold bins are cut on)."""
        counts = np.zeros(self.n_items + 1, dtype=np.int64)
        if any(len(s) for s in self.train):
            np.add.at(counts, np.concatenate(self.train), 1)
        counts[0] = 0
        return counts

    def summary(self) -> dict:
        return {
            "kind": self.kind,
            "seed": self.seed,
            "n_users": int(sum(1 for s in self.train if len(s))),
            "n_train_interactions": int(sum(len(s) for s in self.train)),
            "n_valid": len(self.valid),
            "n_test": len(self.test),
            "n_new_items": len(self.new_items),
        }

    def save(self, directory: str | Path) -> None:
        with atomic_dir(directory) as tmp:
            dataset_from_arrow(pa.table({"user_idx": np.arange(len(self.train), dtype=np.int64),
                                         "items": list_column(self.train)})).save_to_disk(str(tmp / "train"))
            self.valid.to_dataset().save_to_disk(str(tmp / "valid"))
            self.test.to_dataset().save_to_disk(str(tmp / "test"))
            write_json(tmp / "split.json", {"kind": self.kind, "n_items": self.n_items, "n_users": self.n_users,
                                            "seed": self.seed, "new_items": self.new_items.tolist(),
                                            "summary": self.summary()})

    @classmethod
    def load(cls, directory: str | Path) -> "SequentialSplit":
        directory = Path(directory)
        meta = json.loads((directory / "split.json").read_text())
        train = split_list_column(datasets.load_from_disk(str(directory / "train")), "items")
        return cls(kind=meta["kind"], n_items=meta["n_items"], n_users=meta["n_users"], train=train,
                   valid=EvalCases.from_dataset(datasets.load_from_disk(str(directory / "valid"))),
                   test=EvalCases.from_dataset(datasets.load_from_disk(str(directory / "test"))),
                   new_items=np.asarray(meta["new_items"], dtype=np.int64), seed=meta["seed"])


def warm_holdout(split: SequentialSplit) -> SequentialSplit:
    """The split with each user's last training item held out as the validation target (history: the rest).

    What a model that cannot score never-seen items is trained and selected on when every validation target of
    ``split`` is never seen (the new-items split): there it scores 0 at every epoch, so early stopping would keep
    epoch 0. Test cases, new items and the kind are kept; users with one training item keep it for training.
    """
    users = [u for u in range(1, len(split.train)) if len(split.train[u]) >= 2]
    train = [seq[:-1] if len(seq) >= 2 else seq for seq in split.train]
    valid = EvalCases(np.asarray(users, dtype=np.int64), [split.train[u][:-1] for u in users],
                      np.asarray([split.train[u][-1] for u in users], dtype=np.int64))
    return dataclasses.replace(split, train=train, valid=valid)


def selection_split(split: SequentialSplit, scores_unseen_items: bool) -> SequentialSplit:
    """What a model trains and early-stops on: ``split`` itself, or its :func:`warm_holdout` when the model
    cannot score never-seen items and no validation target was seen in training."""
    if scores_unseen_items or not len(split.valid):
        return split
    seen = split.item_train_counts()[np.asarray(split.valid.targets, dtype=np.int64)] > 0
    return split if seen.any() else warm_holdout(split)


def shared_training_sequences(sequences: list[np.ndarray], splits: list["SequentialSplit | CTRSplit"]
                              ) -> list[np.ndarray]:
    """Per user, the interactions that are training data in every given split (time order).

    Split-independent artifacts that learn from interactions (LoRA-tuned encoders) use these, so no split's
    validation or test interactions, and no new item, leak into them.
    """
    keep = [len(s) for s in sequences]
    banned = np.zeros(0, dtype=np.int64)
    for split in splits:
        if isinstance(split, CTRSplit):
            users, positions, parts = numpy_columns(split.table, "user_idx", "position", "part")
            train_len = np.zeros(len(sequences), dtype=np.int64)
            np.maximum.at(train_len, users[parts == "train"], positions[parts == "train"] + 1)
            keep = [min(k, int(t)) if len(sequences[u]) else 0 for u, (k, t) in enumerate(zip(keep, train_len))]
        else:
            keep = [min(k, len(split.train[u])) if split.kind == "leave-one-out" else k for u, k in enumerate(keep)]
            banned = np.union1d(banned, split.new_items)
    return [seq[:k][~np.isin(seq[:k], banned)] for seq, k in zip(sequences, keep)]


def _eligible(sequences: list[np.ndarray], min_len: int) -> list[int]:
    return [u for u in range(1, len(sequences)) if len(sequences[u]) >= min_len]


def leave_one_out(sequences: list[np.ndarray], n_items: int, min_user_interactions: int = 3, seed: int = 0
                  ) -> SequentialSplit:
    """Last item = test, second-to-last = validation, the rest = training."""
    users = _eligible(sequences, max(min_user_interactions, 3))
    train = [np.zeros(0, dtype=np.int64) for _ in sequences]
    for u in users:
        train[u] = sequences[u][:-2]
    u_arr = np.asarray(users, dtype=np.int64)
    valid = EvalCases(u_arr, [sequences[u][:-2] for u in users], np.asarray([sequences[u][-2] for u in users]))
    test = EvalCases(u_arr.copy(), [sequences[u][:-1] for u in users], np.asarray([sequences[u][-1] for u in users]))
    return SequentialSplit("leave-one-out", n_items, len(sequences) - 1, train, valid, test,
                           np.zeros(0, dtype=np.int64), seed)


def new_items(sequences: list[np.ndarray], n_items: int, fraction: float = 0.2, min_user_interactions: int = 3,
              seed: int = 0) -> SequentialSplit:
    """A seeded ``fraction`` of interacted items become new: removed from every training sequence.

    Test = each user's last interaction with a new item, history = everything before it (new items in it are
    kept as input); validation = the same rule on the period before the test target: the user's last new-item
    interaction before it. Training = the user's warm interactions before the test target only: the warm events
    after it are the user's future and would leak into training (and into the items masked at ranking).
    """
    users = _eligible(sequences, min_user_interactions)
    interacted = np.unique(np.concatenate([sequences[u] for u in users]))
    rng = np.random.default_rng(seed)
    n_new = int(round(fraction * len(interacted)))
    new = np.sort(rng.choice(interacted, size=n_new, replace=False))
    is_new = np.zeros(n_items + 1, dtype=bool)
    is_new[new] = True

    train = [np.zeros(0, dtype=np.int64) for _ in sequences]
    cases = {"valid": ([], [], []), "test": ([], [], [])}
    for u in users:
        seq = sequences[u]
        new_positions = np.flatnonzero(is_new[seq])
        before_test = seq[: new_positions[-1]] if len(new_positions) and new_positions[-1] > 0 else seq
        train[u] = before_test[~is_new[before_test]]
        for part, pos in zip(("test", "valid"), new_positions[::-1][:2]):
            if pos == 0:
                continue  # nothing before it to condition on
            cases[part][0].append(u)
            cases[part][1].append(seq[:pos])
            cases[part][2].append(seq[pos])

    def to_cases(part: str) -> EvalCases:
        users_, histories, targets = cases[part]
        return EvalCases(np.asarray(users_, dtype=np.int64), histories, np.asarray(targets, dtype=np.int64))

    return SequentialSplit("new-items", n_items, len(sequences) - 1, train, to_cases("valid"), to_cases("test"),
                           new.astype(np.int64), seed)


@dataclasses.dataclass
class CTRSplit:
    """Labelled (user, item) events split by time per user, each with its previous ``max_history`` items."""

    table: datasets.Dataset  # user_idx, item_idx, label, timestamp, position, part (train/valid/test), history
    n_items: int
    n_users: int
    seed: int
    label_rule: str

    def part(self, name: str) -> datasets.Dataset:
        return self.table.filter(lambda p: [x == name for x in p], input_columns="part", batched=True)

    def item_train_counts(self) -> np.ndarray:
        parts, items = numpy_columns(self.table, "part", "item_idx")
        items = items[parts == "train"]
        return np.bincount(items, minlength=self.n_items + 1).astype(np.int64)

    def summary(self) -> dict:
        parts, labels = numpy_columns(self.table, "part", "label")
        return {"kind": "ctr", "seed": self.seed, "label_rule": self.label_rule,
                **{f"n_{p}": int((parts == p).sum()) for p in ("train", "valid", "test")},
                "positive_rate": float(labels.mean()) if len(labels) else 0.0}

    def save(self, directory: str | Path) -> None:
        with atomic_dir(directory) as tmp:
            self.table.save_to_disk(str(tmp / "events"))
            write_json(tmp / "split.json", {"kind": "ctr", "n_items": self.n_items, "n_users": self.n_users,
                                            "seed": self.seed, "label_rule": self.label_rule,
                                            "summary": self.summary()})

    @classmethod
    def load(cls, directory: str | Path) -> "CTRSplit":
        directory = Path(directory)
        meta = json.loads((directory / "split.json").read_text())
        return cls(datasets.load_from_disk(str(directory / "events")), meta["n_items"], meta["n_users"],
                   meta["seed"], meta["label_rule"])


def _implicit_negatives(sequences: list[np.ndarray], users: list[int], n_items: int, k: int,
                        rng: np.random.Generator) -> list[np.ndarray]:
    """Per user (in order, one RNG stream), ``k`` items per event that the user never interacted with."""
    out = []
    for u in users:
        seq = sequences[u]
        negatives = rng.integers(1, n_items + 1, size=(len(seq), k))
        while (bad := np.isin(negatives, seq)).any():
            negatives[bad] = rng.integers(1, n_items + 1, size=int(bad.sum()))
        out.append(negatives)
    return out


def _ctr_batch(seq: np.ndarray, ratings: np.ndarray, stamps: np.ndarray, lengths: np.ndarray, users: np.ndarray,
               negatives: np.ndarray | None, click_threshold: float | None, test_fraction: float,
               valid_fraction: float, max_history: int) -> pa.RecordBatch:
    """The CTR events of a block of users whose time-ordered interactions are concatenated in ``seq``."""
    starts = np.cumsum(lengths) - lengths
    position = np.arange(len(seq), dtype=np.int64) - np.repeat(starts, lengths)
    n = np.repeat(lengths, lengths)
    n_test = np.maximum(1, np.round(test_fraction * n).astype(np.int64))
    n_valid = np.maximum(1, np.round(valid_fraction * n).astype(np.int64))
    part = (position >= n - n_test - n_valid).astype(np.int8) + (position >= n - n_test)
    reps = 1 if negatives is None else 1 + negatives.shape[1]
    if negatives is None:
        items, labels = seq, (ratings >= click_threshold).astype(np.float32)
    else:
        items = np.concatenate([seq[:, None], negatives], axis=1).reshape(-1)
        labels = np.tile(np.r_[1.0, np.zeros(reps - 1)], len(seq)).astype(np.float32)
    hist_len = np.repeat(np.minimum(position, max_history), reps)  # the previous items, oldest first
    hist_end = np.repeat(np.arange(len(seq), dtype=np.int64), reps)
    offsets = np.concatenate([[0], np.cumsum(hist_len)])
    gather = np.arange(offsets[-1], dtype=np.int64) + np.repeat(hist_end - hist_len - offsets[:-1], hist_len)
    return pa.RecordBatch.from_pydict({
        "user_idx": np.repeat(np.repeat(users, lengths), reps), "item_idx": items.astype(np.int64),
        "label": labels, "timestamp": np.repeat(stamps.astype(np.int64), reps), "position": np.repeat(position, reps),
        "part": pa.array(["train", "valid", "test"]).take(pa.array(np.repeat(part, reps))),
        "history": pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(seq[gather])),
    })


def ctr_time_split(sequences: list[np.ndarray], ratings: list[np.ndarray], timestamps: list[np.ndarray],
                   n_items: int, *, click_threshold: float | None = 4.0, negatives_per_positive: int = 1,
                   test_fraction: float = 0.2, valid_fraction: float = 0.1, max_history: int = 50,
                   min_user_interactions: int = 3, seed: int = 0, block_events: int = 1 << 20) -> CTRSplit:
    """Per user (time order): the last ``test_fraction`` of events are test, the ``valid_fraction`` before valid.

    Explicit data (``click_threshold`` set and ratings present): label = rating >= threshold. Implicit data:
    every observed event is a positive, plus ``negatives_per_positive`` seeded unobserved items at the same time.
    The history of an event is the user's previous ``max_history`` observed items (every event, any label),
    oldest first. Built vectorised over blocks of users of about ``block_events`` events each, so memory
    beyond the table itself stays bounded; only the implicit negatives' rejection sampling loops per user.
    """
    rng = np.random.default_rng(seed)
    users = _eligible(sequences, min_user_interactions)
    explicit = click_threshold is not None and all(np.isfinite(ratings[u]).all() for u in users)
    negatives = None if explicit else _implicit_negatives(sequences, users, n_items, negatives_per_positive, rng)
    lengths = np.fromiter((len(sequences[u]) for u in users), dtype=np.int64, count=len(users))
    block_of = (np.cumsum(lengths) - lengths) // block_events  # by the events before each user
    edges = [0, *(np.flatnonzero(np.diff(block_of)) + 1).tolist(), len(users)]
    batches = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        block = users[lo:hi]
        batches.append(_ctr_batch(
            np.concatenate([sequences[u] for u in block]).astype(np.int64),
            np.concatenate([ratings[u] for u in block]), np.concatenate([timestamps[u] for u in block]),
            lengths[lo:hi], np.asarray(block, dtype=np.int64),
            None if explicit else np.concatenate(negatives[lo:hi]), click_threshold if explicit else None,
            test_fraction, valid_fraction, max_history))
    rule = (f"rating >= {click_threshold}" if explicit
            else f"observed = 1, {negatives_per_positive} sampled unobserved per positive = 0 (seed {seed})")
    return CTRSplit(dataset_from_arrow(pa.Table.from_batches(batches)), n_items, len(sequences) - 1, seed, rule)

"""CTR samples as padded tensors, built once per split part, and batches as index slices of them.

A sample is (user, user categorical features, target item, target genres, the previous ``max_history`` items).
Histories are right-padded with 0 and carry an explicit mask, so models never infer validity from item ids.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from mmrec.core.pages import release_pages
from mmrec.data.splits import CTRSplit
from mmrec.data.tables import Tables, numpy_columns

AGE_EDGES = (18, 25, 35, 45, 50, 56)  # MovieLens age groups: <18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+


@dataclasses.dataclass
class CTRBatch:
    """One mini-batch; every tensor has the batch as its first dimension."""

    user: torch.Tensor  # (B,) user index
    user_features: torch.Tensor  # (B, F) categorical indices, 0 = unknown
    item: torch.Tensor  # (B,) target item index
    item_genres: torch.Tensor  # (B, G) multi-hot float
    history: torch.Tensor  # (B, L) item indices, oldest first, right-padded with 0
    history_mask: torch.Tensor  # (B, L) bool, True at real positions
    label: torch.Tensor  # (B,) float 0/1

    def to(self, device: torch.device | str) -> "CTRBatch":
        return CTRBatch(**{f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)})

    def __len__(self) -> int:
        return len(self.label)


@dataclasses.dataclass
class FeatureSpec:
    """Sizes a CTR model needs to build its embedding tables."""

    n_users: int
    n_items: int
    user_field_sizes: list[int]  # vocabulary size (incl. 0 = unknown) per user feature
    n_genres: int
    max_history: int


def _bucket_age(values: list[str]) -> np.ndarray:
    ages = np.array([float(v) if v not in ("", None) else np.nan for v in values])
    codes = np.digitize(np.nan_to_num(ages, nan=-1.0), AGE_EDGES) + 1
    return np.where(np.isnan(ages), 0, codes).astype(np.int64)


def user_feature_matrix(tables: Tables, fields: list[str]) -> tuple[torch.Tensor, list[int]]:
    """(U + 1, F) categorical codes (row 0 and missing values = 0) and each field's vocabulary size."""
    order = np.asarray(tables.users["user_idx"], dtype=np.int64)
    columns, sizes = [], []
    for name in fields:
        if name not in tables.users.column_names:
            raise KeyError(f"user feature '{name}' not in the users table (have: {tables.users.column_names})")
        values = [str(v) if v is not None else "" for v in tables.users[name]]
        if name == "age":
            codes, size = _bucket_age(values), len(AGE_EDGES) + 2
        else:
            vocab = {v: i + 1 for i, v in enumerate(sorted({v for v in values if v}))}
            codes, size = np.array([vocab.get(v, 0) for v in values], dtype=np.int64), len(vocab) + 1
        col = np.zeros(tables.n_users + 1, dtype=np.int64)
        col[order] = codes
        columns.append(col)
        sizes.append(size)
    matrix = np.stack(columns, axis=1) if columns else np.zeros((tables.n_users + 1, 0), dtype=np.int64)
    return torch.from_numpy(matrix), sizes


def item_genre_matrix(tables: Tables, field: str | None = "genres", sep: str = ",") -> torch.Tensor:
    """(N + 1, G) multi-hot of a comma-separated item column; (N + 1, 0) when the column is absent."""
    if not field or field not in tables.items.column_names:
        return torch.zeros(tables.n_items + 1, 0)
    raw = [[g.strip() for g in (v or "").split(sep) if g.strip()] for v in tables.items[field]]
    vocab = {g: i for i, g in enumerate(sorted({g for gs in raw for g in gs}))}
    matrix = torch.zeros(tables.n_items + 1, len(vocab))
    for idx, genres in zip(tables.items["item_idx"], raw):
        for g in genres:
            matrix[idx, vocab[g]] = 1.0
    return matrix


@dataclasses.dataclass
class CTRSamples:
    """All samples of one split part as tensors; ``batches`` slices them without Python-level collation."""

    user: torch.Tensor
    item: torch.Tensor
    history: torch.Tensor
    history_mask: torch.Tensor
    label: torch.Tensor
    user_features: torch.Tensor  # (U + 1, F) lookup table shared by all parts
    item_genres: torch.Tensor  # (N + 1, G) lookup table shared by all parts

    def __len__(self) -> int:
        return len(self.label)

    def batch(self, index: torch.Tensor) -> CTRBatch:
        user, item = self.user[index], self.item[index]
        return CTRBatch(user=user, user_features=self.user_features[user], item=item,
                        item_genres=self.item_genres[item], history=self.history[index],
                        history_mask=self.history_mask[index], label=self.label[index])

    def batches(self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None
                ) -> Iterator[CTRBatch]:
        order = torch.randperm(len(self), generator=generator) if shuffle else torch.arange(len(self))
        for start in range(0, len(self), batch_size):
            yield self.batch(order[start:start + batch_size])


def pad_histories(histories: list[list[int]], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep each history's last ``max_len`` items, oldest first, right-padded: (n, L) ids and mask."""
    lengths = np.fromiter((min(len(h), max_len) for h in histories), dtype=np.int64, count=len(histories))
    ids = np.zeros((len(histories), max_len), dtype=np.int64)
    flat = np.fromiter((x for h in histories for x in h[len(h) - min(len(h), max_len):]), dtype=np.int64,
                       count=int(lengths.sum()))
    rows = np.repeat(np.arange(len(histories)), lengths)
    cols = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    ids[rows, cols] = flat
    mask = np.arange(max_len)[None, :] < lengths[:, None]
    return torch.from_numpy(ids), torch.from_numpy(mask)


def pad_list_rows(column: pa.ChunkedArray, rows: np.ndarray, max_len: int, block_rows: int = 1 << 18
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """``pad_histories`` of the given (ascending) rows of an Arrow list column, read chunk by chunk.

    Equal to ``pad_histories([column[i] for i in rows], max_len)`` without a Python int per value, so a split
    of millions of events never exists as Python lists; the gather runs ``block_rows`` rows at a time, so its
    temporaries stay a few tens of MB beside the (n, L) output however many rows there are. Each chunk's pages
    are handed back once read (``release_pages``), so a memory-mapped column is never resident all at once.
    """
    ids = np.zeros((len(rows), max_len), dtype=np.int64)
    lengths = np.zeros(len(rows), dtype=np.int64)
    chunk_start = 0
    for chunk in column.chunks:
        lo, hi = np.searchsorted(rows, [chunk_start, chunk_start + len(chunk)])
        offsets = chunk.offsets.to_numpy()
        values = chunk.values.to_numpy(zero_copy_only=False)
        for block_lo in range(lo, hi, block_rows):
            block_hi = min(block_lo + block_rows, hi)
            local = rows[block_lo:block_hi] - chunk_start
            ends = offsets[local + 1]
            starts = np.maximum(offsets[local], ends - max_len)
            src = starts[:, None] + np.arange(max_len)[None, :]
            valid = src < ends[:, None]
            ids[block_lo:block_hi][valid] = values[src[valid]]
            lengths[block_lo:block_hi] = ends - starts
        release_pages(chunk.buffers())
        chunk_start += len(chunk)
    mask = np.arange(max_len)[None, :] < lengths[:, None]
    return torch.from_numpy(ids), torch.from_numpy(mask)


def build_ctr_samples(split: CTRSplit, tables: Tables, max_history: int,
                      user_fields: list[str], genre_field: str | None = "genres"
                      ) -> tuple[dict[str, CTRSamples], FeatureSpec]:
    """Tensors for the train / valid / test parts of a CTR split, plus the feature sizes models need."""
    user_features, field_sizes = user_feature_matrix(tables, user_fields)
    genres = item_genre_matrix(tables, genre_field)
    users, items, labels = numpy_columns(split.table, "user_idx", "item_idx", "label")
    table = split.table.data
    out = {}
    for name in ("train", "valid", "test"):
        rows = np.flatnonzero(pc.equal(table.column("part"), name).to_numpy(zero_copy_only=False))
        history, mask = pad_list_rows(table.column("history"), rows, max_history)
        out[name] = CTRSamples(
            user=torch.as_tensor(users[rows], dtype=torch.long),
            item=torch.as_tensor(items[rows], dtype=torch.long),
            history=history, history_mask=mask,
            label=torch.as_tensor(labels[rows], dtype=torch.float32),
            user_features=user_features, item_genres=genres)
    spec = FeatureSpec(n_users=split.n_users, n_items=split.n_items, user_field_sizes=field_sizes,
                       n_genres=genres.shape[1], max_history=max_history)
    return out, spec

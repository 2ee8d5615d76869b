"""Streaming CSV / parquet reader: fit a feature map on a first pass over train, encode on a second.

Only one raw chunk is in memory at a time; the encoded tensors are what accumulates. CSV cells are read as text
(the feature map parses numbers itself, so a text cell in a numeric column is caught with its row).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import torch

from mmrec.features.errors import FeatureError
from mmrec.features.feature_map import Chunk, FeatureMap
from mmrec.features.schema import Field

CHUNK_ROWS = 100_000


def read_chunks(path: str | Path, rows: int = CHUNK_ROWS) -> Iterator[Chunk]:
    """``(frame, str(path), offset)`` per chunk of ``rows`` rows of a ``.csv`` or ``.parquet`` file."""
    path = Path(path)
    if not path.is_file():
        raise FeatureError(f"{path}: no such file")
    if path.suffix == ".parquet":
        offset = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
            frame = batch.to_pandas()
            yield frame, str(path), offset
            offset += len(frame)
    elif path.suffix == ".csv":
        offset = 0
        try:
            reader = pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=rows)
            for frame in reader:
                yield frame, str(path), offset
                offset += len(frame)
        except pd.errors.EmptyDataError:
            return
    else:
        raise FeatureError(f"{path}: unknown data format '{path.suffix}'; expected .csv or .parquet")


def fit_file(fields: list[Field], path: str | Path, embeddings: dict[str, tuple[list[Any], int]] | None = None,
             rows: int = CHUNK_ROWS) -> FeatureMap:
    """First pass: the feature map fitted on the training file."""
    try:
        return FeatureMap.fit(fields, read_chunks(path, rows), embeddings)
    except FeatureError as exc:
        if "empty split" in str(exc):
            raise FeatureError(f"{path}: split 'train' has no rows to fit the feature map on") from None
        raise


def encode_file(feature_map: FeatureMap, path: str | Path, split: str, rows: int = CHUNK_ROWS,
                labels: bool = True) -> dict[str, torch.Tensor]:
    """Second pass: one split's tensors; an empty file is an error naming it and the split."""
    try:
        return feature_map.encode_chunks(read_chunks(path, rows), split, labels)
    except FeatureError as exc:
        if f"split '{split}' has no rows" in str(exc):
            raise FeatureError(f"{path}: split '{split}' has no rows") from None
        raise


def encode_splits(fields: list[Field], paths: dict[str, str | Path], rows: int = CHUNK_ROWS
                  ) -> tuple[FeatureMap, dict[str, dict[str, torch.Tensor]]]:
    """Fit on ``paths["train"]``, then encode every split: the feature map and ``{split: tensors}``."""
    feature_map = fit_file(fields, paths["train"], rows=rows)
    return feature_map, {split: encode_file(feature_map, path, split, rows) for split, path in paths.items()}

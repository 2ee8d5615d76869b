"""The CTR events of a ``fields`` run, per split, as chunk streams the feature map fits on and encodes.

One source per dataset kind: ml-100k (:func:`mmrec.data.ml100k_ctr.ml100k_ctr_frames` on the prepare stage's
tables, the ``ctr`` split's per-user time split), Frappe (the BARS x1 parts, seeded 8:1:1 re-split by the recipe's
``seed``), Criteo (the first ``data.max_rows`` impressions, in time order: the last ``split.ctr_test_fraction``
test and the ``split.ctr_valid_fraction`` before them valid) and a bring-your-own folder of ``train`` / ``valid`` /
``test`` ``.csv`` / ``.parquet`` event files, streamed in chunks (only one chunk of raw rows in memory at a time).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from mmrec.data import CTR_LOGS, DataError, resolve_dataset
from mmrec.data.criteo import load_criteo
from mmrec.data.frappe import load_frappe, resplit
from mmrec.data.ml100k_ctr import ml100k_ctr_frames
from mmrec.data.tables import Tables
from mmrec.features import FeatureError
from mmrec.features.feature_map import Chunk, frame_chunks
from mmrec.features.reader import read_chunks
from mmrec.features.schema import Field, Sequence
from mmrec.recipe import RecipeConfig

SPLITS = ("train", "valid", "test")
FILE_SUFFIXES = (".parquet", ".csv")
ML100K_HISTORY = 200  # the history the ml-100k events carry when the features declare no sequence


@dataclasses.dataclass
class EventSource:
    """One split's events: ``name`` (the file or a description, for error messages) and a fresh chunk stream."""

    name: str
    chunks: Callable[[], Iterator[Chunk]]


def is_ctr_log(cfg: RecipeConfig) -> bool:
    """Whether the recipe's dataset is a CTR event log, which only the ``fields`` stage reads (no prepare)."""
    try:
        return resolve_dataset(cfg.data)[1] in CTR_LOGS
    except DataError:
        return False  # not found: the prepare stage (or the preflight) says so with its own message


def needs_tables(cfg: RecipeConfig) -> bool:
    """Whether the events are built from the prepare stage's tables (ml-100k) rather than read from a log."""
    return bool(cfg.fields.models) and not is_ctr_log(cfg)


def _frame_source(frame: pd.DataFrame, name: str, rows: int) -> EventSource:
    return EventSource(name, lambda: frame_chunks(frame, name, rows))


def file_columns(path: Path) -> list[str]:
    """A file's column names, reading no rows."""
    try:
        names = pq.read_schema(path).names if path.suffix == ".parquet" else pd.read_csv(path, nrows=0).columns
    except pd.errors.EmptyDataError:
        raise DataError(path, "file is empty") from None
    except Exception as exc:  # noqa: BLE001 - pandas / pyarrow parser errors are many types
        raise DataError(path, f"cannot parse the header: {exc}") from None
    return [str(c) for c in names]


def _file_source(path: Path, rows: int) -> EventSource:
    return EventSource(str(path), lambda: read_chunks(path, rows))


def _history_len(fields: list[Field]) -> int:
    return max([f.max_len for f in fields if isinstance(f, Sequence)], default=ML100K_HISTORY)


def time_split(frame: pd.DataFrame, test_fraction: float, valid_fraction: float) -> dict[str, pd.DataFrame]:
    """A log in time order cut into train / valid / test: the last ``test_fraction`` test, the slice before valid."""
    n = len(frame)
    n_test, n_valid = int(round(test_fraction * n)), int(round(valid_fraction * n))
    cuts = {"train": (0, n - n_test - n_valid), "valid": (n - n_test - n_valid, n - n_test), "test": (n - n_test, n)}
    return {s: frame.iloc[a:b].reset_index(drop=True) for s, (a, b) in cuts.items()}


def event_folder(folder: Path) -> dict[str, Path]:
    """``{split: file}`` of a bring-your-own events folder; a missing split file is an error naming it."""
    out = {}
    for split in SPLITS:
        found = [folder / f"{split}{suffix}" for suffix in FILE_SUFFIXES if (folder / f"{split}{suffix}").is_file()]
        if not found:
            raise DataError(folder / f"{split}.csv", f"missing: an events folder holds train / valid / test as "
                                                     f"{' or '.join(FILE_SUFFIXES)} files (split '{split}')")
        out[split] = found[0]
    return out


def event_sources(cfg: RecipeConfig, fields: list[Field], tables: Tables | None) -> dict[str, EventSource]:
    """``{split: EventSource}`` for the recipe's dataset (``tables``: the prepare stage's, for ml-100k)."""
    folder, fmt = resolve_dataset(cfg.data)
    rows, split = cfg.fields.chunk_rows, cfg.split
    if fmt == "events":
        return {s: _file_source(path, rows) for s, path in event_folder(folder).items()}
    if fmt == "frappe":
        parts = resplit(load_frappe(folder), cfg.seed)
        return {s: _frame_source(parts[s], f"frappe {s} (8:1:1 re-split, seed {cfg.seed})", rows) for s in SPLITS}
    if fmt == "criteo":
        parts = time_split(load_criteo(folder, cfg.data.max_rows).frame, split.ctr_test_fraction,
                           split.ctr_valid_fraction)
        return {s: _frame_source(parts[s], f"criteo {s} ({folder / 'train.txt'}, time split)", rows) for s in SPLITS}
    if fmt == "movielens" and tables is not None and tables.name == "ml-100k":
        parts = ml100k_ctr_frames(tables, test_fraction=split.ctr_test_fraction,
                                  valid_fraction=split.ctr_valid_fraction,
                                  click_threshold=split.ctr_click_threshold or 4.0,
                                  max_history=_history_len(fields),
                                  min_user_interactions=cfg.data.min_user_interactions)
        return {s: _frame_source(parts[s], f"ml-100k CTR {s} events", rows) for s in SPLITS}
    raise DataError(folder, f"the fields stage reads ml-100k, frappe, criteo or a folder of train / valid / test "
                            f"event files; this dataset's format is '{fmt}'")


def check_nonempty(sources: dict[str, EventSource]) -> None:
    """An empty split is an error naming its file before any fitting starts (nothing is written)."""
    for split, source in sources.items():
        if not any(len(frame) for frame, _, _ in source.chunks()):
            raise FeatureError(f"{source.name}: split '{split}' has no rows")

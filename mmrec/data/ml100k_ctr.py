"""ml-100k CTR events for the typed feature layer: one row per rated (user, item), the columns of ML100K_CTR_FIELDS.md.

The events and their train / valid / test parts are exactly those of the ``ctr`` split kind
(:func:`mmrec.data.splits.ctr_time_split`: per user in time order, ties by file order, the last ``test_fraction``
test and the ``valid_fraction`` before them valid; label ``click`` = rating >= ``click_threshold``). Each event
carries the user's fields, the target's fields and the user's earlier events (any label, oldest first, at most
``max_history``) as list columns, one per history sub-field. Everything is gathered with NumPy over one
time-ordered event array; the list columns are Arrow lists turned into per-row arrays without a Python loop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from mmrec.data.download import locate
from mmrec.data.movielens import load_movielens_100k
from mmrec.data.splits import ctr_time_split, group_by_user
from mmrec.data.tables import Tables, numpy_columns

SPLITS = ("train", "valid", "test")
AGE_BANDS = ((18, "<18"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (50, "45-49"), (56, "50-55"))  # else "56+"
AGE_DOMAINS = ((25, "<25"), (35, "25-34"), (50, "35-49"))  # else "50+": the 4 zoo-III domains (ZOO.md §1)
NO_GENRE = "unknown"  # ml-100k's own flag for the items without a genre: category / genres never go missing
FLAT_COLUMNS = ["user", "age_band", "age_domain", "gender", "occupation", "zip_prefix", "item", "category", "genres",
                "year", "timestamp", "click"]
HISTORY_COLUMNS = ["hist_item", "hist_category", "hist_rating", "hist_hour", "hist_weekday", "hist_age"]
COLUMNS = FLAT_COLUMNS + HISTORY_COLUMNS


def _banded(age: np.ndarray, bands: tuple[tuple[int, str], ...], last: str) -> np.ndarray:
    """Label of the first band whose upper bound (exclusive) exceeds the age."""
    uppers = np.array([upper for upper, _ in bands])
    labels = np.array([label for _, label in bands] + [last], dtype=object)
    return labels[np.searchsorted(uppers, age, side="right")]


def hour_of_day(ts: np.ndarray) -> np.ndarray:
    """UTC hour 0..23 of Unix seconds (the feature map's context ``hour``)."""
    return (ts // 3600) % 24


def weekday(ts: np.ndarray) -> np.ndarray:
    """Weekday 0 = Monday .. 6 of Unix seconds (the feature map's context ``weekday``; 1970-01-01 was a Thursday)."""
    return (ts // 86400 + 3) % 7


def item_columns(tables: Tables) -> dict[str, np.ndarray]:
    """Per item index 0..N (0 unused): original ID, first genre, all genres "|"-joined, release year (NaN missing)."""
    genres = [g.split(", ") if g else [NO_GENRE] for g in tables.items["genres"]]
    year = pd.to_numeric(pd.Series(tables.items["year"], dtype=object), errors="coerce").to_numpy(np.float64)
    return {"item": np.r_[0, np.asarray(tables.items["item_id"], dtype=np.int64)],
            "category": np.array([None] + [g[0] for g in genres], dtype=object),
            "genres": np.array([None] + ["|".join(g) for g in genres], dtype=object),
            "year": np.r_[np.nan, year]}


def user_columns(tables: Tables) -> dict[str, np.ndarray]:
    """Per user index 0..U (0 unused): original ID, age band, age domain, gender, occupation, zip prefix."""
    age = np.asarray(tables.users["age"], dtype=np.int64)
    zips = pd.Series(tables.users["zip_code"], dtype=object).str.strip().str[:1].to_numpy(dtype=object)
    return {"user": np.r_[0, np.asarray(tables.users["user_id"], dtype=np.int64)],
            "age_band": np.r_[None, _banded(age, AGE_BANDS, "56+")],
            "age_domain": np.r_[None, _banded(age, AGE_DOMAINS, "50+")],
            "gender": np.r_[None, np.asarray(tables.users["gender"], dtype=object)],
            "occupation": np.r_[None, np.asarray(tables.users["occupation"], dtype=object)],
            "zip_prefix": np.r_[None, zips]}


def _lists(offsets: np.ndarray, values: np.ndarray) -> pd.Series:
    """Per row, its slice of ``values`` (one ndarray per row) from an Arrow list array: no Python loop per row."""
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int64), type=pa.int64()),
                                    pa.array(values)).to_pandas()


def ml100k_ctr_frames(tables: Tables | str | Path | None = None, *, test_fraction: float = 0.2,
                      valid_fraction: float = 0.1, click_threshold: float = 4.0, max_history: int = 200,
                      min_user_interactions: int = 3) -> dict[str, pd.DataFrame]:
    """``{"train", "valid", "test"}`` -> events with exactly :data:`COLUMNS`, each part in (user, time) order.

    ``tables``: loaded ml-100k :class:`Tables`, the ``ml-100k`` folder, or None (the built-in dataset, looked up
    under $MMREC_DATA). The split parameters are the recipe's ``split.ctr_*`` / ``data.min_user_interactions``.
    """
    if not isinstance(tables, Tables):
        tables = load_movielens_100k(locate("ml-100k") if tables is None else tables, text_fields=[],
                                     with_images=False)
    users, items, stamps, order, ratings = numpy_columns(
        tables.interactions, "user_idx", "item_idx", "timestamp", "order", "rating")
    stamps = stamps.astype(np.int64)
    per_user = group_by_user(users, stamps, order, tables.n_users, items.astype(np.int64),
                             ratings.astype(np.float64), stamps)
    split = ctr_time_split(*per_user, tables.n_items, click_threshold=click_threshold, test_fraction=test_fraction,
                           valid_fraction=valid_fraction, max_history=1, min_user_interactions=min_user_interactions)
    event_user, position, part = numpy_columns(split.table, "user_idx", "position", "part")

    # every user's events in time order, one array: event e of the split is row start[user] + position
    perm = np.lexsort((order, stamps, users))
    s_item, s_rating, s_ts = items[perm].astype(np.int64), ratings[perm], stamps[perm]
    start = np.searchsorted(users[perm], np.arange(tables.n_users + 1))
    row = start[event_user] + position
    hist_len = np.minimum(position, max_history)
    offsets = np.concatenate([[0], np.cumsum(hist_len)])
    hist = np.arange(offsets[-1], dtype=np.int64) + np.repeat(row - hist_len - offsets[:-1], hist_len)
    hist_target_ts = np.repeat(s_ts[row], hist_len)

    item_cols, user_cols = item_columns(tables), user_columns(tables)
    target = s_item[row]
    frame = pd.DataFrame({
        **{name: values[event_user] for name, values in user_cols.items()},
        **{name: values[target] for name, values in item_cols.items()},
        "timestamp": s_ts[row],
        "click": (s_rating[row] >= click_threshold).astype(np.int64),
        "hist_item": _lists(offsets, item_cols["item"][s_item[hist]]),
        "hist_category": _lists(offsets, item_cols["category"][s_item[hist]]),
        "hist_rating": _lists(offsets, s_rating[hist].astype(np.int64)),
        "hist_hour": _lists(offsets, hour_of_day(s_ts[hist])),
        "hist_weekday": _lists(offsets, weekday(s_ts[hist])),
        "hist_age": _lists(offsets, np.log1p(np.maximum(hist_target_ts - s_ts[hist], 0) / 3600.0)),
    })[COLUMNS]
    return {name: frame[part == name].reset_index(drop=True) for name in SPLITS}

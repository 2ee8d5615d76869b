"""ml-100k as an impression → click → conversion funnel (issue 15's multi-task labels; ZOO.md §4).

ml-100k logs only what users rated, so the funnel is built from it with one stated assumption:

- every rated event (the rows of :func:`mmrec.data.ml100k_ctr.ml100k_ctr_frames`) is an impression that was
  clicked: ``click`` = 1, ``conversion`` = 1 iff its rating >= ``conversion_threshold`` (4: the CTR label there);
- beside each, ``negatives_per_event`` sampled impressions that were not clicked (``click`` = ``conversion`` = 0):
  the same user, time, context and history, the item drawn by training popularity (impressions favour popular
  items) among the items that user never rated, with that item's fields.

So ``click`` is the model-visible exposure task and ``conversion`` the sparse downstream task (entire-space, as in
ESMM: conversion is 0 wherever click is), and P(conversion | click) is ml-100k's own like-rate. The parts and the
history are those of the CTR events (per-user time split); sampled rows follow their event, seeded per part.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mmrec.data.download import locate
from mmrec.data.ml100k_ctr import SPLITS, item_columns, ml100k_ctr_frames, user_columns
from mmrec.data.movielens import load_movielens_100k
from mmrec.data.tables import Tables, numpy_columns

LABELS = ("click", "conversion")
MAX_REDRAWS = 50  # rejection rounds for sampled items the user rated (each round redraws only the collisions)


def _sample_unrated(rng: np.random.Generator, users: np.ndarray, popularity: np.ndarray, rated: np.ndarray,
                    n_items: int) -> np.ndarray:
    """One item per row (1..n_items) drawn with probability ∝ popularity, never one with code user·(N+1)+item in
    the sorted ``rated`` codes."""
    p = popularity / popularity.sum()
    items = rng.choice(n_items + 1, size=len(users), p=p)
    for _ in range(MAX_REDRAWS):
        clash = np.isin(users * (n_items + 1) + items, rated, assume_unique=False)
        if not clash.any():
            return items
        items[clash] = rng.choice(n_items + 1, size=int(clash.sum()), p=p)
    raise ValueError(f"could not sample unrated items for {int(clash.sum())} events after {MAX_REDRAWS} rounds "
                     "(users who rated nearly every item?)")


def ml100k_funnel_frames(tables: Tables | str | Path | None = None, *, negatives_per_event: int = 1, seed: int = 0,
                         conversion_threshold: float = 4.0, **ctr_options) -> dict[str, pd.DataFrame]:
    """``{"train", "valid", "test"}`` -> the CTR events' columns with ``click`` (impression clicked) and
    ``conversion``; each part's rows are its events followed by their sampled impressions, then sorted by (user,
    timestamp) stably. ``ctr_options``: :func:`ml100k_ctr_frames`'s split / history options."""
    if negatives_per_event < 0:
        raise ValueError(f"negatives_per_event must be >= 0, got {negatives_per_event}")
    if not isinstance(tables, Tables):
        tables = load_movielens_100k(locate("ml-100k") if tables is None else tables, text_fields=[],
                                     with_images=False)
    frames = ml100k_ctr_frames(tables, click_threshold=conversion_threshold, **ctr_options)
    users, items = (a.astype(np.int64) for a in numpy_columns(tables.interactions, "user_idx", "item_idx"))
    n_items = tables.n_items
    rated = np.unique(users * (n_items + 1) + items)
    item_cols, user_cols = item_columns(tables), user_columns(tables)
    item_index, user_index = pd.Index(item_cols["item"]), pd.Index(user_cols["user"])
    popularity = np.bincount(item_index.get_indexer(frames["train"]["item"]), minlength=n_items + 1).astype(float)
    popularity[0] = 0.0
    out = {}
    for k, name in enumerate(SPLITS):
        events = frames[name].rename(columns={"click": "conversion"})
        events.insert(events.columns.get_loc("conversion"), "click", np.ones(len(events), dtype=np.int64))
        sampled = events.loc[events.index.repeat(negatives_per_event)].reset_index(drop=True)
        rng = np.random.default_rng([seed, k])
        drawn = _sample_unrated(rng, user_index.get_indexer(sampled["user"]), popularity, rated, n_items)
        for column in ("item", "category", "genres", "year"):
            sampled[column] = item_cols[column][drawn]
        sampled["click"], sampled["conversion"] = 0, 0
        both = pd.concat([events, sampled], ignore_index=True)
        out[name] = both.sort_values(["user", "timestamp"], kind="stable").reset_index(drop=True)
    return out

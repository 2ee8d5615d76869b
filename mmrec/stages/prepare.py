"""``prepare``: load and validate the dataset into tables, then build every split the recipe names."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mmrec.core.io import fingerprint_tree, write_json
from mmrec.data import Tables, load_tables, resolve_dataset
from mmrec.data.splits import CTRSplit, SequentialSplit, ctr_time_split, group_by_user, leave_one_out, new_items
from mmrec.data.subsample import subsample_users
from mmrec.data.tables import numpy_columns
from mmrec.pipeline import Stage, StageContext
from mmrec.recipe import RecipeConfig


def build_splits(tables: Tables, cfg: RecipeConfig) -> dict[str, SequentialSplit | CTRSplit]:
    """Every split the recipe names, by kind."""
    return dict(iter_splits(tables, cfg))


def iter_splits(tables: Tables, cfg: RecipeConfig) -> Iterator[tuple[str, SequentialSplit | CTRSplit]]:
    """The recipe's splits one at a time, so a caller that saves each before the next needs one in memory."""
    users, items, stamps, order, ratings = numpy_columns(
        tables.interactions, "user_idx", "item_idx", "timestamp", "order", "rating")
    items, ratings, stamps = group_by_user(users, stamps, order, tables.n_users, items.astype(np.int64),
                                           ratings.astype(np.float64), stamps)
    min_len = cfg.data.min_user_interactions
    if cfg.split.interaction_fraction < 1.0:  # the sparse setting
        items, ratings, stamps = subsample_users([items, ratings, stamps], cfg.split.interaction_fraction,
                                                 min_len, cfg.seed)
    for kind in cfg.split.kinds:  # yielded without a local name, so only the caller holds each split
        if kind == "leave-one-out":
            yield kind, leave_one_out(items, tables.n_items, min_len, seed=cfg.seed)
        elif kind == "new-items":
            yield kind, new_items(items, tables.n_items, cfg.split.new_item_fraction, min_len, seed=cfg.seed)
        else:
            yield kind, ctr_time_split(
                items, ratings, stamps, tables.n_items, click_threshold=cfg.split.ctr_click_threshold,
                negatives_per_positive=cfg.split.ctr_negatives_per_positive,
                test_fraction=cfg.split.ctr_test_fraction, valid_fraction=cfg.split.ctr_valid_fraction,
                max_history=cfg.split.ctr_max_history, min_user_interactions=min_len, seed=cfg.seed)


def run(ctx: StageContext) -> None:
    tables = load_tables(ctx.cfg.data)
    tables.save(ctx.out / "tables")
    summaries = {}
    for kind, split in iter_splits(tables, ctx.cfg):  # saved and dropped before the next is built
        split.save(ctx.out / "splits" / kind)
        summaries[kind] = split.summary()
        del split
    write_json(ctx.out / "stats.json", {"tables": tables.stats(), "splits": summaries})


def _fingerprint(cfg: RecipeConfig) -> str:
    folder, fmt = resolve_dataset(cfg.data)
    parts = [fingerprint_tree(folder)]
    extras = folder.parent / "ml-100k-extras"
    if fmt == "movielens" and extras.is_dir():
        parts.append(fingerprint_tree(extras))
    return ":".join(parts)


STAGE = Stage(name="prepare", run=run, sections=("seed", "data", "split"), version="1", fingerprint=_fingerprint)

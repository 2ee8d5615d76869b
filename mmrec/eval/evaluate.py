"""``evaluate``: one model on one set of cases -> the report's per-model dict (overall, warm, cold, bins)."""

from __future__ import annotations

import time

import numpy as np
import torch

from mmrec.core.bins import FrequencyBins
from mmrec.data.splits import SequentialSplit
from mmrec.eval.config import EvalConfig
from mmrec.eval.metrics import RankingCases, metrics_from_ranks, rank_all_excluding
from mmrec.models.base import Recommender


def ranking_cases(split: SequentialSplit, part: str) -> RankingCases:
    """Cases of ``split.valid`` / ``split.test`` with the user's training items and the history masked."""
    cases = getattr(split, part)
    known = [split.train[u] for u in cases.users]
    return RankingCases.build(cases.histories, cases.targets, known, max_len=None)


def evaluate(model: Recommender, cases: RankingCases, item_counts: np.ndarray,
             settings: EvalConfig | None = None) -> dict:
    """Rank every target, then aggregate overall, warm / cold (count <= cold_threshold) and per frequency bin."""
    settings = settings or EvalConfig()
    was_training = model.training
    model.eval()
    ks = list(settings.ks)
    target_counts = item_counts[cases.targets.numpy()]
    new_targets = target_counts == 0
    # never-seen targets are also ranked among the never-seen items only (warm ones excluded), from the same scores:
    # on the new-items split every target is new, so a model that scores new items above warm ones in general
    # gains in full ranking without knowing which new item fits; this number separates the two
    excluded = [None]
    if new_targets.sum() >= settings.noisy_bin_min_targets:
        warm = torch.from_numpy(np.asarray(item_counts) > 0)
        warm[0] = True
        excluded.append(warm)
    start = time.perf_counter()
    ranks, *among = rank_all_excluding(model.scorer(settings.precision), cases.with_max_len(model.max_len), excluded,
                                       settings.batch_size, settings.ties, model.device, settings.workers)
    seconds = time.perf_counter() - start
    model.train(was_training)
    among_new = ({**_metrics(among[0][new_targets], ks), "n_targets": int(new_targets.sum())} if among else None)
    cold = target_counts <= settings.cold_threshold
    bins = FrequencyBins.from_counts(item_counts, settings.n_bins)
    target_bins = bins.assign(target_counts)
    rows = bins.describe(item_counts, cases.targets.numpy(), settings.noisy_bin_min_targets)
    for row in rows:
        row.update(_metrics(ranks[target_bins == row["bin"]], ks))
    return {
        "overall": metrics_from_ranks(ranks, ks),
        "warm": {**_metrics(ranks[~cold], ks), "n_targets": int((~cold).sum())},
        "cold": {**_metrics(ranks[cold], ks), "n_targets": int(cold.sum())},
        "bins": rows,
        **({"among_new": among_new} if among_new is not None else {}),
        "n_targets": len(ranks),
        "ties": settings.ties,
        "eval_seconds": seconds,
    }


def _metrics(ranks: np.ndarray, ks: list[int]) -> dict[str, float]:
    """Metrics of a group of targets; none at all for an empty group (a 0 would read as a measured miss)."""
    return metrics_from_ranks(ranks, ks) if len(ranks) else {}

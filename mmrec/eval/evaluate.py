"""``evaluate``: one model on one set of cases -> the report's per-model dict (overall, warm, cold, bins)."""

from __future__ import annotations

import time

import numpy as np
import torch

from mmrec.core.bins import FrequencyBins
from mmrec.data.splits import SequentialSplit
from mmrec.eval.config import EvalConfig
from mmrec.eval.metrics import RankingCases, metrics_from_ranks, rank_all
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
    start = time.perf_counter()
    ranks = rank_all(model.scorer(), cases.with_max_len(model.max_len), settings.batch_size, settings.ties,
                     device=model.device)
    seconds = time.perf_counter() - start
    ks = list(settings.ks)
    target_counts = item_counts[cases.targets.numpy()]
    among_new = None
    new_targets = target_counts == 0
    if new_targets.sum() >= settings.noisy_bin_min_targets:
        among_new = {**_metrics(_ranks_among_new(model, cases, item_counts, settings)[new_targets], ks),
                     "n_targets": int(new_targets.sum())}
    model.train(was_training)
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


def _ranks_among_new(model: Recommender, cases: RankingCases, item_counts: np.ndarray, settings: EvalConfig
                     ) -> np.ndarray:
    """Ranks with only the never-seen items as candidates (warm ones scored -inf): how well a model orders new
    items among themselves, apart from how it scores them against warm items. On the new-items split every target
    is new, so a model that scores never-seen items above warm ones in general gains in full ranking without
    knowing which new item fits; this number separates the two."""
    warm = torch.from_numpy(np.asarray(item_counts) > 0).to(model.device)
    warm[0] = True
    score = model.scorer()
    return rank_all(lambda h: score(h).masked_fill(warm, float("-inf")), cases.with_max_len(model.max_len),
                    settings.batch_size, settings.ties, device=model.device)


def _metrics(ranks: np.ndarray, ks: list[int]) -> dict[str, float]:
    """Metrics of a group of targets; none at all for an empty group (a 0 would read as a measured miss)."""
    return metrics_from_ranks(ranks, ks) if len(ranks) else {}

"""CTR metrics against hand computations on tiny cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmrec.core.bins import FrequencyBins
from mmrec.core.seeds import aggregate_seeds
from mmrec.eval.ctr_metrics import auc, ctr_report, gauc, logloss

USERS = np.array([1, 1, 1, 2, 2, 3])
LABELS = np.array([1, 0, 0, 1, 0, 1])
SCORES = np.array([0.8, 0.4, 0.9, 0.3, 0.6, 0.7])


def test_auc_by_hand():
    # positives .8 .3 .7 vs negatives .4 .9 .6: .8 beats 2, .3 beats 0, .7 beats 2 -> 4 of 9 pairs
    assert auc(LABELS, SCORES) == pytest.approx(4 / 9)
    assert auc(np.ones(3), np.arange(3)) is None


def test_gauc_by_hand():
    # user 1: .8 vs (.4, .9) -> 1/2, 3 events; user 2: .3 vs .6 -> 0, 2 events; user 3: one class, skipped
    assert gauc(USERS, LABELS, SCORES) == pytest.approx((3 * 0.5 + 2 * 0.0) / 5)


def test_logloss_by_hand():
    expected = -(math.log(0.8) + math.log(0.6) + math.log(0.1) + math.log(0.3) + math.log(0.4) + math.log(0.7)) / 6
    assert logloss(LABELS, SCORES) == pytest.approx(expected)


def test_bins_are_the_shared_frequency_bins():
    counts = np.array([0, 0, 1, 1, 2, 4, 8, 16, 32])  # index 0 = padding; item 1 never seen
    items = np.array([1, 2, 5, 7, 8, 8])
    report = ctr_report(USERS, items, LABELS, SCORES, counts, n_bins=2)
    shared = FrequencyBins.from_counts(counts, 2)
    assert [(b["min_count"], b["max_count"]) for b in report["bins"]] == list(zip(shared.min_count.tolist(),
                                                                                   shared.max_count.tolist()))
    assert [b["n_targets"] for b in report["bins"]] == [1, 3, 2]  # counts 0 | 1, 4, 16 | 32, 32
    assert [b["n_items"] for b in report["bins"]] == [1, 6, 1]


def test_report_breakdown_and_seed_aggregation():
    items = np.array([1, 2, 3, 4, 5, 1])
    counts = np.array([0, 0, 3, 10, 20, 6])  # item 1 never seen, item 2 cold (3 <= 5)
    report = ctr_report(USERS, items, LABELS, SCORES, counts, cold_threshold=5, n_bins=2, noisy_min=30)
    assert report["cold"]["n"] == 3 and report["warm"]["n"] == 3
    assert report["bins"][0]["n_targets"] == 2 and report["bins"][0]["noisy"]
    assert sum(b["n_targets"] for b in report["bins"]) == len(LABELS)
    agg = aggregate_seeds([report, report])
    assert agg["overall"]["AUC"] == {"mean": pytest.approx(4 / 9), "std": 0.0, "n": 2}
    assert agg["overall"]["n"] == 6


def test_gauc_matches_per_user_roc_auc_score_with_ties():
    rng = np.random.default_rng(0)
    users = rng.integers(0, 40, 600)
    labels = rng.integers(0, 2, 600)
    scores = rng.integers(0, 7, 600) / 7  # many ties
    total, weight = 0.0, 0
    for u in np.unique(users):
        sel = users == u
        if len(np.unique(labels[sel])) == 2:
            total += auc(labels[sel], scores[sel]) * sel.sum()
            weight += sel.sum()
    assert gauc(users, labels, scores) == pytest.approx(total / weight)

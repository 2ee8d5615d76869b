"""CTR metrics (EVALUATION.md): AUC, GAUC, LogLoss, overall and by the target item's training count.

Frequency bins are the sequential report's (``mmrec.core.bins.FrequencyBins``): bin 0 = items never seen in
training, then bins of equal training-interaction mass. ``cold`` = count <= ``cold_threshold``. A bin with fewer
than ``noisy_min`` test events is flagged.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from mmrec.core.bins import FrequencyBins


def auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC; None when only one class is present."""
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        return None
    return float(roc_auc_score(labels, scores))


def gauc(users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Per-user AUC weighted by the user's number of events; users with a single class are skipped.

    Vectorised Mann-Whitney form (tied scores get average ranks, as in ``roc_auc_score``): thousands of users
    cost one sort, not thousands of scikit-learn calls.
    """
    users, labels, scores = np.asarray(users), np.asarray(labels).astype(bool), np.asarray(scores)
    if len(users) == 0:
        return None
    _, user_code = np.unique(users, return_inverse=True)
    _, score_rank = np.unique(scores, return_inverse=True)
    key = user_code.astype(np.int64) * (int(score_rank.max()) + 1) + score_rank
    ranks = rankdata(key, method="average")  # global ranks; shift to ranks within the user's group
    n = np.bincount(user_code)
    ranks -= np.concatenate([[0], np.cumsum(n)[:-1]])[user_code]
    n_pos = np.bincount(user_code, weights=labels.astype(np.float64))
    n_neg = n - n_pos
    rank_sum = np.bincount(user_code, weights=ranks * labels)
    both = (n_pos > 0) & (n_neg > 0)
    if not both.any():
        return None
    per_user = (rank_sum[both] - n_pos[both] * (n_pos[both] + 1) / 2) / (n_pos[both] * n_neg[both])
    return float((per_user * n[both]).sum() / n[both].sum())


def logloss(labels: np.ndarray, probs: np.ndarray, eps: float = 1e-7) -> float:
    p = np.clip(np.asarray(probs, dtype=np.float64), eps, 1 - eps)
    y = np.asarray(labels, dtype=np.float64)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def _metrics(users: np.ndarray, labels: np.ndarray, probs: np.ndarray) -> dict:
    if len(labels) == 0:
        return {"AUC": None, "GAUC": None, "LogLoss": None, "n": 0}
    return {"AUC": auc(labels, probs), "GAUC": gauc(users, labels, probs), "LogLoss": logloss(labels, probs),
            "n": int(len(labels))}


def ctr_report(users: np.ndarray, items: np.ndarray, labels: np.ndarray, probs: np.ndarray,
               item_train_counts: np.ndarray, cold_threshold: int = 5, n_bins: int = 10, noisy_min: int = 30
               ) -> dict:
    """``{"overall", "warm", "cold": {AUC, GAUC, LogLoss, n}, "bins": [...]}`` for one model's test predictions."""
    users, items, labels, probs = map(np.asarray, (users, items, labels, probs))
    counts = np.asarray(item_train_counts)
    target_counts = counts[items]
    cold = target_counts <= cold_threshold
    bins = FrequencyBins.from_counts(counts, n_bins)
    target_bins = bins.assign(target_counts)
    report = {"overall": _metrics(users, labels, probs),
              "warm": _metrics(users[~cold], labels[~cold], probs[~cold]),
              "cold": _metrics(users[cold], labels[cold], probs[cold]),
              "bins": bins.describe(counts, items, noisy_min)}
    for row in report["bins"]:
        sel = target_bins == row["bin"]
        row.update({k: v for k, v in _metrics(users[sel], labels[sel], probs[sel]).items() if k != "n"})
    return report

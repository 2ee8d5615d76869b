"""The CTR report renders warm / cold and per-bin AUC, GAUC and LogLoss, and compares models by AUC."""

from __future__ import annotations

import numpy as np

from mmrec.core.seeds import aggregate_seeds
from mmrec.eval.ctr_metrics import ctr_report
from mmrec.eval.report import _html, _markdown, _tables


def _result(seed_offsets: list[float]) -> dict:
    """A model's seed-aggregated CTR result on a synthetic test set (a fixed user/item/label layout)."""
    rng = np.random.default_rng(0)
    users, items = rng.integers(1, 50, 3000), rng.integers(1, 200, 3000)
    labels = rng.integers(0, 2, 3000)
    counts = np.concatenate([[0], rng.integers(0, 60, 199)])
    runs = [ctr_report(users, items, labels, np.clip(0.5 + (labels - 0.5) * off + rng.normal(0, 0.3, 3000), 0.01, 0.99),
                       counts, cold_threshold=5, n_bins=4) for off in seed_offsets]
    return {**aggregate_seeds(runs), "train_seconds": 1.5, "eval_seconds": 0.1, "best_epoch": 1}


def _report() -> dict:
    return {"dataset": "toy", "task": "ctr", "split": "ctr", "split_seed": 0, "seeds": [0, 1],
            "protocol": "CTR per-user time split", "cold_threshold": 5, "data": {"n_items": 199},
            "split_summary": {"kind": "ctr"}, "headline": ["AUC", "GAUC", "LogLoss"], "training": {},
            "models": {"din": _result([0.1, 0.12]), "diff_msin_te": _result([0.3, 0.31])}}


def test_ctr_tables_show_warm_cold_and_every_bin_metric():
    report = _report()
    tables = {title.split(" (")[0]: (header, rows) for title, header, rows in _tables(report)}
    assert {"Overall", "Warm vs cold test events", "AUC per frequency bin", "GAUC per frequency bin",
            "LogLoss per frequency bin", "Cost"} <= set(tables)
    header, rows = tables["Overall"]
    assert header[-1] == "vs best on AUC"
    assert dict((r[0], r[-1]) for r in rows)["diff_msin_te"] == "best" and "worse" in rows[0][-1]
    header, rows = tables["Warm vs cold test events"]
    assert header[1:7] == ["warm AUC", "cold AUC", "warm GAUC", "cold GAUC", "warm LogLoss", "cold LogLoss"]
    cold_auc = report["models"]["din"]["cold"]["AUC"]
    assert rows[0][2] == f"{cold_auc['mean']:.4f} ± {cold_auc['std']:.4f}"
    header, rows = tables["AUC per frequency bin"]
    bins = report["models"]["din"]["bins"]
    assert header == ["bin", "training count", "items", "test events", "din", "diff_msin_te"]
    assert len(rows) == len(bins) and rows[0][:3] == ["0", "0–0", str(bins[0]["n_items"])]
    assert rows[1][4] == f"{bins[1]['AUC']['mean']:.4f} ± {bins[1]['AUC']['std']:.4f}"


def test_ctr_markdown_and_html_render_the_breakdown():
    report = _report()
    md, page = _markdown(report, ["auc_by_bin.png"]), _html(report, {})
    for text in ["## Warm vs cold test events", "## GAUC per frequency bin", "![auc_by_bin.png](auc_by_bin.png)",
                 "**GAUC**"]:
        assert text in md, text
    assert "<h2>LogLoss per frequency bin</h2>" in page and "<th>cold AUC</th>" in page
    assert "NDCG" not in md and "NDCG" not in page

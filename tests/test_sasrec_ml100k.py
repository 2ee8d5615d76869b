"""Slow: the SASRec reference recipe on the real ml-100k reaches the quality a correct implementation gets
(measured 0.1076 ± 0.0058 over 3 seeds with window_stride 10, 2026-11-22; the old xfail predates that recipe)."""

import json
from pathlib import Path

import pytest

from mmrec.eval.report import render_report
from mmrec.pipeline import Pipeline
from mmrec.recipe import load_recipe
from mmrec.stages import default_stages

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_sasrec_reference_reaches_ndcg10_of_0_10_over_three_seeds(data_root, tmp_path):
    cfg = load_recipe(REPO / "recipes" / "ml-100k-sasrec.yaml", ["train.progress=false"])
    Pipeline(cfg, tmp_path, default_stages()).run()
    render_report(tmp_path)
    models = json.loads((tmp_path / "leave-one-out" / "report.json").read_text())["models"]
    ndcg = models["sasrec"]["overall"]["NDCG@10"]
    assert ndcg["n"] == 3 and ndcg["mean"] >= 0.10
    assert ndcg["mean"] > models["popularity"]["overall"]["NDCG@10"]["mean"] + 0.03  # one shape: {mean, std, n}

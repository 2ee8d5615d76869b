"""End to end on ml-100k: the ctr stage trains, evaluates and reports in the contract's shape, and saves Hub models
that `mmrec push` picks by AUC (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mmrec.core.modalities import save_modalities
from mmrec.eval.report import render_report
from mmrec.hub import export_run_model, load_model
from mmrec.pipeline import Pipeline
from mmrec.recipe import load_recipe
from mmrec.stages import default_stages

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "ml-100k-ctr.yaml"


@pytest.mark.slow
def test_ctr_stage_writes_the_report_contract(data_root, tmp_path):
    n = 1683
    g = torch.Generator().manual_seed(0)
    present = torch.rand(n, generator=g) > 0.2
    save_modalities(tmp_path / "enc", {"text": (torch.randn(n, 8, generator=g), torch.ones(n, dtype=torch.bool)),
                                       "image": (torch.randn(n, 8, generator=g), present)})
    cfg = load_recipe(RECIPE, ["seeds=[0,1]", "ctr.models=[lr,din_mm,din_te]", "ctr.max_epochs=1", "ctr.embed_dim=4",
                               "fields.models=[]",  # the recipe's feature-layer models: tests/fields
                               f"ctr.modalities_dir={tmp_path / 'enc'}", "encode.encoders={}",
                               f"quantize.modalities_dir={tmp_path / 'enc'}", "quantize.nbits=4"])
    Pipeline(cfg, tmp_path / "run", default_stages()).run()
    render_report(tmp_path / "run")
    report = json.loads((tmp_path / "run" / "ctr" / "report.json").read_text())
    assert report["task"] == "ctr" and set(report["models"]) == {"lr", "din_mm", "din_te"}
    assert report["models"]["din_te"]["config"]["item_side"]["codes"] == "moc3"
    model, choice, _ = export_run_model(tmp_path / "run", tmp_path / "push")
    best = max(report["models"], key=lambda m: report["models"][m]["overall"]["AUC"]["mean"])
    assert (choice.split, choice.name, choice.seed) == ("ctr", best, 0)
    assert "| cold |" in (tmp_path / "push" / "README.md").read_text()
    assert type(load_model(tmp_path / "push")) is type(model)
    row = report["models"]["din_mm"]
    assert set(row["overall"]["AUC"]) == {"mean", "std", "n"} and row["overall"]["AUC"]["n"] == 2
    assert row["overall"]["AUC"]["mean"] > 0.55
    assert {"warm", "cold", "bins", "train_seconds", "eval_seconds"} <= set(row)
    assert len(row["bins"]) == cfg.eval.n_bins + 1

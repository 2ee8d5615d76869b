"""The fields stage end to end on a real Frappe slice: results, Hub folders that predict raw rows, the report, and
a failure mid-stage that leaves no partial artifact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from fields_helpers import FRAPPE_RECIPE, REPO, slice_recipe

from mmrec.eval.ctr_metrics import auc
from mmrec.eval.fields_report import render_run_report
from mmrec.features import FeatureMap
from mmrec.fields import stage as fields_stage
from mmrec.hub import export_run_model, load_model
from mmrec.pipeline import Pipeline

def _run(cfg, run_dir):
    return Pipeline(cfg, run_dir, [fields_stage.STAGE]).run()


def test_stage_trains_tests_saves_and_reports(frappe_events, tmp_path):
    run_dir = tmp_path / "run"
    artifact = _run(slice_recipe(frappe_events), run_dir)["fields"]
    results = json.loads((artifact / "results.json").read_text())["fields"]
    assert list(results) == ["zoo_lr", "zoo_deepfm"]
    for name, row in results.items():
        assert row["overall"]["AUC"]["n"] == 1 and row["overall"]["AUC"]["mean"] > 0.65, name  # real signal
        assert {"warm", "cold", "bins"} <= set(row) and row["per_seed"][0]["seed"] == 0
    # LR reads only first-order weights: no embedding analysis; DeepFM's covers every field, per field
    assert results["zoo_lr"]["embedding_analysis"] is None
    tables = results["zoo_deepfm"]["embedding_analysis"]["tables"]
    assert set(tables) == {"user", "item", "daytime", "weekday", "isweekend", "homework", "cost", "weather",
                           "country", "city"}
    assert all(1.0 <= t["table"]["information_abundance"] <= t["table"]["max_rank"] for t in tables.values())
    assert results["zoo_deepfm"]["embedding_analysis"]["entanglement"]["domain_field"] == "homework"

    # the Hub folder predicts raw rows itself; its test AUC is the one reported
    model = load_model(artifact / "models" / "fields" / "zoo_deepfm" / "seed0")
    assert model.feature_map.to_dict() == FeatureMap.load(artifact / "feature_map.json").to_dict()
    raw = pd.read_csv(frappe_events / "test.csv", dtype=str, keep_default_na=False)
    probs = model.predict(raw.drop(columns=["label"]))
    assert auc(raw["label"].astype(int).to_numpy(), probs) == pytest.approx(
        results["zoo_deepfm"]["overall"]["AUC"]["mean"], abs=1e-6)
    rows = raw.drop(columns=["label"]).iloc[:3].to_dict("records")
    np.testing.assert_allclose(model.predict(rows), probs[:3], rtol=1e-6)

    render_run_report(run_dir)
    text = (run_dir / "fields" / "report.md").read_text()
    assert "## Overall (test)" in text and "zoo_deepfm" in text and "IA (test lookups)" in text
    assert (run_dir / "fields" / "embedding_spectra_zoo_deepfm.png").stat().st_size > 1000
    assert "[fields](fields/report.md)" in (run_dir / "index.md").read_text()

    # `mmrec push` picks the best fields model by test AUC and writes its card from the fields report
    best = max(results, key=lambda m: results[m]["overall"]["AUC"]["mean"])
    _, choice, _ = export_run_model(run_dir, tmp_path / "push")
    assert (choice.split, choice.name, choice.seed) == ("fields", best, 0)
    assert "| overall | 1000 |" in (tmp_path / "push" / "README.md").read_text()


def test_failure_mid_stage_leaves_no_partial_artifact_and_the_rerun_completes(frappe_events, tmp_path, monkeypatch):
    cfg, run_dir = slice_recipe(frappe_events), tmp_path / "run"
    real, calls = fields_stage.train_model, []

    def dies_on_the_second_model(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 2:
            raise KeyboardInterrupt  # what Ctrl-C does mid-training
        return real(*args, **kwargs)

    monkeypatch.setattr(fields_stage, "train_model", dies_on_the_second_model)
    with pytest.raises(KeyboardInterrupt):
        _run(cfg, run_dir)
    assert list((run_dir / "artifacts").iterdir()) == []  # the first model's Hub folder went with the temp dir
    assert json.loads((run_dir / "status.json").read_text())["failed"] == "fields"
    monkeypatch.setattr(fields_stage, "train_model", real)
    artifact = _run(cfg, run_dir)["fields"]
    assert (artifact / "stage.json").is_file()
    assert sorted(p.name for p in (artifact / "models" / "fields").iterdir()) == ["zoo_deepfm", "zoo_lr"]


@pytest.mark.slow
def test_sigkill_inside_the_stage_then_rerun_through_the_cli(frappe_events, tmp_path):
    recipe = tmp_path / "slice.yaml"
    recipe.write_text(FRAPPE_RECIPE.read_text().replace("dataset: frappe", f"dataset: {frappe_events}")
                      .replace("seeds: [0, 1, 2]", "seeds: [0]").replace("max_epochs: 100", "max_epochs: 2"))
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "mmrec", "run", str(recipe), "--output", str(tmp_path / "run")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = ""
    while "fields zoo_fm seed 0: training" not in seen:  # the first model's folder is already written
        line = proc.stdout.readline()
        assert line or proc.poll() is None, seen[-2000:]
        seen += line
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    left = list((tmp_path / "run" / "artifacts").iterdir())
    assert left and all(p.name.startswith(".tmp-") for p in left)  # only the temporary, never an artifact
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    (artifact,) = (tmp_path / "run" / "artifacts").iterdir()
    assert artifact.name.startswith("fields-") and (artifact / "stage.json").is_file()
    assert (tmp_path / "run" / "fields" / "report.html").is_file()

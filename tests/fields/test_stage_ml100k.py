"""The fields stage on ml-100k through the pipeline (prepare's tables, the ctr split's events, frozen item vectors):
a reduced run (short histories, one model, one epoch) and the recipe's full one (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

import pytest

from mmrec.core.modalities import save_modalities
from mmrec.data.ml100k_ctr import ml100k_ctr_frames
from mmrec.data.tables import Tables
from mmrec.eval.ctr_metrics import auc
from mmrec.fields import stage as fields_stage
from mmrec.hub import load_model
from mmrec.pipeline import Pipeline
from mmrec.preflight import check_recipe
from mmrec.recipe import load_recipe
from mmrec.stages import default_stages

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "ml-100k-ctr.yaml"
CONTENT = Path("/work/wt/content-ml100k")  # a demo run's frozen text / image / llm vectors (read-only)


def _short_history(cfg, max_len: int) -> None:
    for entry in cfg.features:
        if entry["type"] == "sequence":
            entry["max_len"] = max_len


def test_reduced_ml100k_run(data_root, tmp_path):
    n = 1683  # ml-100k items + row 0
    g = torch.Generator().manual_seed(0)
    save_modalities(tmp_path / "enc", {"text": (torch.randn(n, 8, generator=g), torch.rand(n, generator=g) > 0.1)})
    cfg = load_recipe(RECIPE, ["seeds=[0]", "fields.models=[zoo_fm]", "fields.train.max_epochs=1",
                               f"fields.modalities_dir={tmp_path / 'enc'}", "fields.analysis_events=2000"])
    cfg.features = [e for e in cfg.features if e["name"] not in ("image", "llm")]
    _short_history(cfg, 5)
    assert check_recipe(cfg, {"prepare", "fields"}) == []
    done = Pipeline(cfg, tmp_path / "run", default_stages()).run(["fields"])
    assert list(done) == ["prepare", "fields"]  # no encode: the vectors come from fields.modalities_dir
    artifact = done["fields"]
    summary = json.loads((artifact / "summary.json").read_text())
    assert (summary["n_train"], summary["n_valid"], summary["n_test"]) == (70012, 9988, 20000)
    assert summary["frozen_tables"] == ["text"] and summary["field_sizes"]["history.hist_item"] == \
        summary["field_sizes"]["item"]
    row = json.loads((artifact / "results.json").read_text())["fields"]["zoo_fm"]
    assert row["overall"]["AUC"]["mean"] > 0.65 and row["overall"]["GAUC"]["mean"] > 0.55
    assert len(row["bins"]) == cfg.eval.n_bins + 1 and row["cold"]["n"] > 0 and row["warm"]["n"] > 0
    assert set(row["embedding_analysis"]["tables"]) >= {"user", "age_domain", "item", "when.hour",
                                                         "history.hist_rating"}

    # the Hub folder encodes raw ml-100k events itself (histories as lists) and reproduces the test AUC
    model = load_model(artifact / "models" / "fields" / "zoo_fm" / "seed0")
    test = ml100k_ctr_frames(Tables.load(done["prepare"] / "tables"), max_history=5)["test"]
    probs = model.predict(test.drop(columns=["click"]))
    assert auc(test["click"].to_numpy(), probs) == pytest.approx(row["overall"]["AUC"]["mean"], abs=1e-6)


@pytest.mark.slow
def test_recipe_fields_stage_on_the_demo_vectors(data_root, tmp_path):
    if not (CONTENT / "llm.safetensors").is_file():
        pytest.skip(f"no frozen vectors at {CONTENT}")
    cfg = load_recipe(RECIPE, ["seeds=[0]", f"fields.modalities_dir={CONTENT}", "fields.train.max_epochs=2"])
    check_recipe(cfg, {"prepare", "fields"})
    done = Pipeline(cfg, tmp_path / "run", default_stages()).run(["fields"])
    results = json.loads((done["fields"] / "results.json").read_text())["fields"]
    assert list(results) == ["zoo_lr", "zoo_fm", "zoo_dnn", "zoo_deepfm", "zoo_dcnv2"]
    assert all(r["overall"]["AUC"]["mean"] > 0.7 for r in results.values())
    assert json.loads((done["fields"] / "summary.json").read_text())["frozen_tables"] == ["image", "llm", "text"]
    assert fields_stage.RESULTS_KEY in json.loads((done["fields"] / "results.json").read_text())

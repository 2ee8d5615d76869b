"""Where the fields stage's events come from: Frappe's seeded re-split, Criteo's time split (on the upstream-format
sample), and the preflight that checks the declared fields against each source's columns before any stage."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import FRAPPE_RECIPE, REPO

from mmrec.data import DataError
from mmrec.data.frappe import load_frappe, resplit
from mmrec.features import parse_fields
from mmrec.fields import stage as fields_stage
from mmrec.fields.events import event_sources, is_ctr_log, time_split
from mmrec.pipeline import Pipeline
from mmrec.preflight import check_recipe
from mmrec.recipe import load_recipe

CRITEO_SAMPLE = REPO / "tests" / "data" / "samples" / "criteo"


def test_frappe_events_are_the_seeded_resplit(data_root):
    cfg = load_recipe(FRAPPE_RECIPE, ["seed=3"])
    assert is_ctr_log(cfg)
    sources = event_sources(cfg, parse_fields(cfg.features), None)
    expected = resplit(load_frappe(data_root / "frappe"), seed=3)
    for split, source in sources.items():
        (frame, name, offset), = list(source.chunks())  # one chunk: 69,266 / 8,658 / 8,658 rows < chunk_rows
        assert offset == 0 and "seed 3" in name
        assert frame.equals(expected[split])
    assert [len(expected[s]) for s in ("train", "valid", "test")] == [69266, 8658, 8658]


def test_time_split_keeps_the_log_order():
    frame = pd.DataFrame({"t": range(10)})
    parts = time_split(frame, 0.2, 0.1)
    assert [parts[s]["t"].tolist() for s in ("train", "valid", "test")] == [list(range(7)), [7], [8, 9]]


def test_criteo_sample_through_the_stage(tmp_path):
    cfg = load_recipe(REPO / "recipes" / "criteo.yaml", [f"data.dataset={CRITEO_SAMPLE}", "data.max_rows=null",
                                                        "split.ctr_test_fraction=0.2", "split.ctr_valid_fraction=0.2",
                                                        "fields.models=[zoo_lr]", "fields.train.max_epochs=1"])
    for entry in cfg.features:
        entry.pop("min_count", None)  # 30 sample lines: keep every hash
    assert is_ctr_log(cfg) and check_recipe(cfg, {"fields"}) == []
    artifact = Pipeline(cfg, tmp_path / "run", [fields_stage.STAGE]).run()["fields"]
    summary = json.loads((artifact / "summary.json").read_text())
    assert (summary["n_train"], summary["n_valid"], summary["n_test"]) == (18, 6, 6)
    assert summary["field_sizes"]["C1"] > 2 and "I1" not in summary["field_sizes"]  # numerics have no table
    row = json.loads((artifact / "results.json").read_text())["fields"]["zoo_lr"]
    assert row["overall"]["GAUC"] is None and "cold" not in row  # no user / item field in Criteo
    assert 0.0 < row["overall"]["LogLoss"]["mean"] < 5.0


def test_preflight_names_the_missing_column(frappe_events):
    cfg = load_recipe(FRAPPE_RECIPE, [f"data.dataset={frappe_events}"])
    cfg.features.append({"name": "venue", "type": "categorical"})
    with pytest.raises(DataError, match=r"train.csv.*field 'venue' reads column 'venue', which the events lack"):
        check_recipe(cfg, {"fields"})
    cfg.features[-1] = {"name": "venue", "type": "categorical", "source": "city"}
    assert check_recipe(cfg, {"fields"}) == []  # a field may read any column under its own name


def test_preflight_checks_the_ml100k_columns_and_skips_unencoded_vectors(data_root):
    cfg = load_recipe(REPO / "recipes" / "ml-100k-ctr.yaml")
    notes = check_recipe(cfg, {"prepare", "encode", "fields"})
    assert notes == ["features: embedding field 'llm' skipped (no 'llm' encoder in encode.encoders and no "
                     "fields.modalities_dir)"]
    assert [e["name"] for e in cfg.features if e["type"] == "embedding"] == ["text", "image"]
    cfg = load_recipe(REPO / "recipes" / "ml-100k-ctr.yaml", ["fields.modalities_dir=/nonexistent"])
    with pytest.raises(DataError, match=r"/nonexistent/text.safetensors.*missing: embedding field 'text'"):
        check_recipe(cfg, {"prepare", "fields"})
    cfg = load_recipe(REPO / "recipes" / "ml-100k-ctr.yaml")
    cfg.features[1] = {"name": "age", "type": "numeric"}
    with pytest.raises(DataError, match=r"ml-100k.*field 'age' reads column 'age'"):
        check_recipe(cfg, {"prepare", "fields"})


def test_unknown_trainer_option_stops_the_preflight(frappe_events):
    cfg = load_recipe(FRAPPE_RECIPE, [f"data.dataset={frappe_events}", "fields.train_overrides.zoo_fm.lrate=0.1"])
    with pytest.raises(Exception, match=r"fields.train_overrides.zoo_fm.lrate"):
        check_recipe(cfg, {"fields"})

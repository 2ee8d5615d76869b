"""Bad input through `mmrec run` and the fields stage (issue 17 item 5): each case is one error line naming the
file, row and field, exit status 2, and no artifact (nothing half-written). The feature layer's own checks are in
tests/features/test_errors.py; these are the same cases end to end, plus what only the stage sees."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import yaml
from conftest import FRAPPE_RECIPE, slice_recipe

from mmrec.cli import main
from mmrec.core.hub_mixin import HubError
from mmrec.data.frappe import FIELD_NAMES
from mmrec.features import FeatureError, FeatureMap, frame_chunks, parse_fields
from mmrec.fields import stage as fields_stage
from mmrec.hub import load_model
from mmrec.pipeline import Pipeline


def _recipe(tmp_path, folder, edit=None):
    raw = yaml.safe_load(FRAPPE_RECIPE.read_text())
    raw["data"]["dataset"] = str(folder)
    raw["seeds"] = [0]
    raw["fields"].update(models=["zoo_lr"], train={**raw["fields"]["train"], "max_epochs": 1})
    if edit:
        edit(raw)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _fails(capsys, recipe, run_dir, message):
    assert main(["run", str(recipe), "--output", str(run_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("mmrec: error: ") and "Traceback" not in "\n".join(err)
    assert re.search(message, err[-1]), err[-1]
    artifacts = run_dir / "artifacts"
    assert not artifacts.exists() or not [p for p in artifacts.iterdir() if (p / "stage.json").is_file()]


def _edit_csv(path, row, column, value):
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[row - 1, column] = value  # row: 1-based data row, as the error names it
    frame.to_csv(path, index=False)


def test_unknown_field_type(frappe_events, tmp_path, capsys):
    recipe = _recipe(tmp_path, frappe_events, lambda r: r["features"][3].update(type="categorial"))
    _fails(capsys, recipe, tmp_path / "run", r"recipe.yaml: .*features\[3\] \(field 'weekday'\): unknown field type "
                                             r"'categorial'; did you mean 'categorical'")
    assert not (tmp_path / "run").exists()  # stopped at load, before the run directory exists


def test_field_missing_from_the_data(frappe_events, tmp_path, capsys):
    recipe = _recipe(tmp_path, frappe_events, lambda r: r["features"].insert(0, {"name": "venue", "type": "domain"}))
    _fails(capsys, recipe, tmp_path / "run", r"train.csv.*field 'venue' reads column 'venue', which the events lack")


def test_numeric_column_with_text(frappe_events, tmp_path, capsys):
    _edit_csv(frappe_events / "valid.csv", 7, "cost", "cheap")
    recipe = _recipe(tmp_path, frappe_events, lambda r: r["features"][6].update(type="numeric"))
    _fails(capsys, recipe, tmp_path / "run", r"valid.csv row 7, field 'cost': 'cheap' is not a number")


def test_label_not_01(frappe_events, tmp_path, capsys):
    _edit_csv(frappe_events / "test.csv", 5, "label", "2")
    _fails(capsys, _recipe(tmp_path, frappe_events), tmp_path / "run",
           r"test.csv row 5, field 'label': label '2' is not 0/1")


def test_empty_split(frappe_events, tmp_path, capsys):
    (frappe_events / "valid.csv").write_text(",".join(FIELD_NAMES + ["label"]) + "\n")
    _fails(capsys, _recipe(tmp_path, frappe_events), tmp_path / "run", r"valid.csv: split 'valid' has no rows")


def test_one_class_validation_split(frappe_events, tmp_path, capsys):
    frame = pd.read_csv(frappe_events / "valid.csv")
    frame[frame["label"] == 0].to_csv(frappe_events / "valid.csv", index=False)
    _fails(capsys, _recipe(tmp_path, frappe_events), tmp_path / "run",
           r"valid.csv: split 'valid', field 'label': every event has label 0; early stopping on validation AUC")


def test_vocabulary_mismatch_when_a_saved_model_meets_new_data(frappe_events, frappe_parts, tmp_path):
    artifact = Pipeline(slice_recipe(frappe_events, "fields.models=[zoo_fm]"), tmp_path / "run",
                        [fields_stage.STAGE]).run()["fields"]
    folder = artifact / "models" / "fields" / "zoo_fm" / "seed0"
    model = load_model(folder)
    # a feature map fitted on other data (more events: more cities) does not fit the saved tables
    fields = parse_fields(yaml.safe_load(FRAPPE_RECIPE.read_text())["features"])
    new = FeatureMap.fit(fields, frame_chunks(frappe_parts["train"].iloc[:20000]))
    with pytest.raises(FeatureError, match=r"new-data.json: vocabulary mismatch on field 'city': the feature map has "
                                           r"\d+ entries, the model's table \d+"):
        model.check_feature_map(new, "new-data.json")
    # a saved folder whose feature map was edited (one city fewer) is refused on load, naming the weights file and
    # the table the shapes disagree on (the Hub mixin's check, before any weight is loaded)
    config = json.loads((folder / "config.json").read_text())
    city = next(e for e in config["init_args"]["feature_map"]["entries"] if e["name"] == "city")
    city["vocab"].pop()
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(HubError, match=r"seed0/model.safetensors: key 'features.table.weight' has shape \[\d+, 10\], "
                                       r"but .*config.json describes"):
        load_model(folder)

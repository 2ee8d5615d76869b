"""The user's path on a generated dataset: logs without bar updates, reports that survive a late failure, a
recipe checked against the data's columns before any stage runs."""

from __future__ import annotations

import json
import subprocess

from toy import env, mmrec, write_dataset

from mmrec.cli import main


def _recipe(tmp, root, ctr: str = "{models: [lr], modalities: [], user_fields: [], max_epochs: 1}",
            extra: str = "") -> str:
    path = tmp / "recipe.yaml"
    path.write_text(f"""
name: toy
data: {{dataset: {root}, format: directory, text_fields: [title, genres], image_field: null}}
split: {{kinds: [leave-one-out, ctr], ctr_click_threshold: null}}
eval: {{n_bins: 3}}
train:
  splits: [leave-one-out]
  epochs: 2
  patience: 1000
  batch_size: 16
  models:
    sasrec: {{dim: 16, n_layers: 1, max_len: 8, dropout: 0.0}}
ctr: {ctr}
{extra}
""")
    return str(path)


def test_a_log_file_gets_one_line_per_epoch_and_no_bar_updates(tmp_path):
    recipe = _recipe(tmp_path, write_dataset(tmp_path / "toy"))
    log = tmp_path / "run.log"
    with open(log, "w") as out:  # what `nohup mmrec run ... > run.log 2>&1` gives: no TTY
        code = subprocess.run(mmrec("run", recipe, "--output", tmp_path / "run"), stdout=out,
                              stderr=subprocess.STDOUT, env=env(), cwd=tmp_path).returncode
    text = log.read_text()
    assert code == 0, text[-2000:]
    assert "\r" not in text  # no carriage-return bar refreshes
    epochs = [line for line in text.splitlines() if " epoch " in line and ": loss " in line]
    assert [line.split(" epoch ")[1].split(":")[0] for line in epochs] == ["1/2", "2/2", "1/1"], epochs
    assert "valid NDCG@10" in epochs[0] and "valid AUC" in epochs[2]


def _emb(folder, rows: int) -> None:
    import torch
    from safetensors.torch import save_file

    folder.mkdir(exist_ok=True)
    emb = torch.randn(rows, 8, generator=torch.Generator().manual_seed(0))
    save_file({"embeddings": emb, "mask": torch.arange(rows) > 0}, str(folder / "text.safetensors"))


def test_a_late_ctr_failure_leaves_the_sequential_reports_and_a_rerun_completes_them(tmp_path, capsys):
    emb = tmp_path / "emb"
    _emb(emb, 30)  # built for another catalogue: the toy has 40 items (41 rows); found only inside the ctr stage
    ctr = (f"{{models: [din_te], modalities: [text], modalities_dir: {emb}, item_side: {{codes: null, n_bins: 3}}, "
           "max_epochs: 1}")
    args = ["run", _recipe(tmp_path, write_dataset(tmp_path / "toy"), ctr), "--output", str(tmp_path / "run")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmrec: error: ctr.item_side.content") and err.count("\n") == 1  # one line, no traceback
    run = tmp_path / "run"
    seq = json.loads((run / "leave-one-out" / "report.json").read_text())
    assert "sasrec" in seq["models"] and seq["models"]["sasrec"]["overall"]["NDCG@10"]["mean"] > 0
    assert seq["state"] == ["incomplete: stages not run yet: ctr (stage ctr failed; re-run the same command to "
                            "complete it)"]
    assert (run / "index.md").read_text().count("incomplete: stages not run yet: ctr") == 1
    assert "incomplete" in (run / "leave-one-out" / "report.html").read_text()

    _emb(emb, 41)  # the user fixes the table and runs the same command: train_seq is cached, ctr completes
    assert main(args) == 0
    ctr_report = json.loads((run / "ctr" / "report.json").read_text())
    assert set(ctr_report["models"]) == {"din_te"} and ctr_report["state"] == []
    assert "incomplete" not in (run / "index.md").read_text()
    assert ctr_report["summary"][0].startswith("best overall: din_te, AUC ")  # the only model, leading the report
    assert "cost: " in (run / "index.md").read_text() and "<div class='summary'>" in (run / "ctr" / "report.html").read_text()
    assert json.loads((run / "leave-one-out" / "report.json").read_text())["models"]["sasrec"] == seq["models"]["sasrec"]


def test_no_users_table_runs_ctr_without_the_default_user_fields(tmp_path):
    root = write_dataset(tmp_path / "toy")
    assert not (root / "users.csv").exists()
    assert main(["run", _recipe(tmp_path, root, "{models: [lr], modalities: [], max_epochs: 1}"),
                 "--output", str(tmp_path / "run"), "--stage", "ctr"]) == 0
    report = json.loads((tmp_path / "run" / "ctr" / "report.json").read_text())
    assert set(report["models"]) == {"lr"} and 0.0 < report["models"]["lr"]["overall"]["AUC"]["mean"] < 1.0
    assert report["notes"] == ["ctr.user_fields: default field(s) ['age', 'gender', 'occupation'] not in the "
                               "dataset (no users table); CTR models use no user fields"]
    assert "Recipe fitted to the data" in (tmp_path / "run" / "ctr" / "report.md").read_text()


def test_a_model_needing_an_unencoded_modality_stops_before_any_stage(tmp_path, capsys):
    root = write_dataset(tmp_path / "toy")
    ctr = "{models: [din_mm], modalities: [text], model_overrides: {din_mm: {modalities: [text, image]}}}"
    extra = "encode: {encoders: {text: {kind: text}}}"
    assert main(["run", _recipe(tmp_path, root, ctr, extra), "--output", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "ctr model 'din_mm' needs the ['image'] modality" in err and err.count("\n") == 1
    assert not (tmp_path / "run" / "artifacts").exists()  # nothing ran


def test_a_default_model_modality_list_narrows_to_ctr_modalities(tmp_path):
    from mmrec.preflight import check_recipe
    from mmrec.recipe import load_recipe

    root = write_dataset(tmp_path / "toy")
    cfg = load_recipe(_recipe(tmp_path, root, "{models: [din_mm, diff_msin], modalities: [text]}",
                              "encode: {encoders: {text: {kind: text}, image: {kind: image}}}"))
    notes = check_recipe(cfg, {"prepare", "encode", "ctr"})
    assert cfg.ctr.model_overrides == {"din_mm": {"modalities": ["text"]}, "diff_msin": {"modalities": ["text"]}}
    assert cfg.encode.encoders.keys() == {"text"}  # image_field: null -> no image encoder
    assert any("'din_mm': reads ['text']" in n for n in notes)


def test_a_text_field_the_recipe_names_but_the_items_lack_is_one_clear_error(tmp_path, capsys):
    root = write_dataset(tmp_path / "toy")
    recipe = _recipe(tmp_path, root)
    assert main(["run", recipe, "--output", str(tmp_path / "run"), "data.text_fields=[title,plot]"]) == 2
    err = capsys.readouterr().err
    assert "items.csv, column 'plot'" in err and err.count("\n") == 1

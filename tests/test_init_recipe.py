"""``mmrec init DIR`` on a generated bring-your-own directory (text, images, ISO 8601 timestamps), then the written
recipe run: the template's stages (SASRec, MoC, PAD, CTR with triple experts) reach the reports."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from toy import write_dataset

from mmrec.cli import main
from mmrec.init_recipe import click_threshold

# tiny sizes for a test run: one epoch everywhere, 16-d models, 3 frequency bins
TINY = ["train.epochs=1", "pad.align_epochs=1", "pad.finetune_epochs=1", "ctr.max_epochs=1", "train.batch_size=32",
        "train.models.sasrec.dim=16", "train.models.sasrec.max_len=8", "train.models.moc3.dim=16",
        "train.models.moc3.max_len=8", "train.models.moc3.code_width=null", "eval.n_bins=3", "pad.n_bins=3",
        "ctr.item_side.n_bins=3", "ctr.embed_dim=8", "quantize.niter=5"]


def user_directory(root, ratings: bool = False, users: bool = False):
    """The toy dataset as a user exports it: ISO 8601 timestamps, an image per item, a numeric column beside the
    text; optionally 1-5 ratings and a users table. 80 items: enough rows for codes sized to the catalogue."""
    write_dataset(root, n_items=80)
    inter = pd.read_csv(root / "interactions.csv")
    inter["timestamp"] = pd.to_datetime(inter["timestamp"], unit="s").dt.strftime("%Y-%m-%dT%H:%M:%S")
    if ratings:
        inter["rating"] = 1 + np.arange(len(inter)) % 5
    inter.to_csv(root / "interactions.csv", index=False)
    items = pd.read_csv(root / "items.csv")
    (root / "images").mkdir()
    for i in range(len(items)):
        Image.fromarray(np.full((32, 32, 3), (i * 3) % 256, dtype=np.uint8)).save(root / "images" / f"{i}.png")
    items["cover"] = [f"images/{i}.png" for i in range(len(items))]
    items["year"] = 1990 + np.arange(len(items))
    items.to_csv(root / "items.csv", index=False)
    if users:
        ids = inter["user_id"].unique()
        pd.DataFrame({"user_id": ids, "age": 20 + np.arange(len(ids)) % 40,
                      "country": ["fr", "de"] * (len(ids) // 2) + ["fr"] * (len(ids) % 2)}).to_csv(
            root / "users.csv", index=False)
    return root


def test_init_reads_text_image_and_label_columns(tmp_path, capsys):
    root = user_directory(tmp_path / "shop", ratings=True, users=True)
    out = tmp_path / "shop.yaml"
    assert main(["init", str(root), "--output", str(out)]) == 0
    recipe = yaml.safe_load(out.read_text())
    assert recipe["data"]["text_fields"] == ["title", "genres"]  # `year` is numbers, `cover` is image paths
    assert recipe["data"]["image_field"] == "cover"
    assert recipe["split"]["ctr_click_threshold"] == 4.0  # 1-5 ratings: >= 4 is a click
    assert recipe["ctr"]["user_fields"] == ["age", "country"]
    assert set(recipe["encode"]["encoders"]) == {"text", "image"}
    assert set(recipe["train"]["models"]) >= {"sasrec", "moc3"} and recipe["pad"]["enabled"]
    assert "din_te" in recipe["ctr"]["models"]
    assert main(["init", str(root), "--output", str(out)]) == 2  # never overwrites without --force
    assert "exists" in capsys.readouterr().err


def test_click_threshold_from_labels_and_ratings():
    assert click_threshold(pd.Series(["0", "1", "1"])) == 1.0
    assert click_threshold(pd.Series(["1", "10", "7"])) == 8.0
    assert click_threshold(pd.Series(["", "x"])) is None


def test_init_then_prepare_fast(tmp_path):
    """The CI-sized path: init, then the prepare stage of the written recipe (ISO timestamps read); the reports
    exist at once and say which stages are still to run."""
    root = user_directory(tmp_path / "shop")
    out = tmp_path / "shop.yaml"
    assert main(["init", str(root), "--output", str(out)]) == 0
    recipe = yaml.safe_load(out.read_text())
    assert recipe["data"]["image_field"] == "cover" and recipe["split"]["ctr_click_threshold"] is None
    assert main(["run", str(out), "--output", str(tmp_path / "run"), "--stage", "prepare"]) == 0
    report = json.loads((tmp_path / "run" / "new-items" / "report.json").read_text())
    assert report["data"]["n_items"] == 80 and report["models"] == {}
    pending = report["state"][0].removeprefix("incomplete: stages not run yet: ").split(", ")
    assert {"encode", "quantize", "train_seq", "align", "pad", "ctr"} <= set(pending)


@pytest.mark.slow
def test_init_then_run_reports_sasrec_pad_and_ctr_with_cold_breakdowns(tmp_path):
    root = user_directory(tmp_path / "shop")
    out = tmp_path / "shop.yaml"
    assert main(["init", str(root), "--output", str(out)]) == 0
    assert main(["run", str(out), "--output", str(tmp_path / "run"), *TINY]) == 0
    reports = {s: json.loads((tmp_path / "run" / s / "report.json").read_text())
               for s in ("leave-one-out", "new-items", "ctr")}
    for split in ("leave-one-out", "new-items"):
        models = reports[split]["models"]
        assert {"sasrec", "moc3", "pad"} <= set(models) and reports[split]["state"] == []
        for name in ("sasrec", "pad"):
            assert models[name]["cold"]["n_targets"] > 0 and models[name]["bins"][0]["bin"] == 0
    # new items: every test target is unseen in training, so the cold group is the whole test set
    new = reports["new-items"]["models"]["pad"]
    assert new["cold"]["n_targets"] == reports["new-items"]["split_summary"]["n_test"] and new["warm"]["n_targets"] == 0
    ctr = reports["ctr"]["models"]
    assert set(ctr) == {"lr", "din", "din_te", "diff_msin_te"}
    assert all(0.0 < m["overall"]["AUC"]["mean"] < 1.0 and m["cold"]["n"] > 0 for m in ctr.values())
    assert "cold" in (tmp_path / "run" / "ctr" / "report.md").read_text()

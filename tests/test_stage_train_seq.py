"""The ``train_seq`` stage end to end on a small synthetic dataset (the CI version), and the report it feeds."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from mmrec.core.config import ConfigError
from mmrec.eval.report import render_report
from mmrec.pipeline import Pipeline
from mmrec.recipe import load_recipe
from mmrec.stages import default_stages

GENRES = ["space war robots", "romance paris love", "detective murder city", "cartoon family fun"]


@pytest.fixture()
def dataset(tmp_path):
    """60 users drifting through 40 items in steps of +1, items' text by genre (item % 4)."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(60):
        start = rng.integers(0, 40)
        for t in range(12):
            rows.append((f"u{u}", f"i{(start + t) % 40}", 1000 + 10 * t + u))
    root = tmp_path / "toy"
    root.mkdir()
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(root / "interactions.csv", index=False)
    pd.DataFrame({"item_id": [f"i{i}" for i in range(40)], "title": [f"movie {i}" for i in range(40)],
                  "genres": [GENRES[i % 4] for i in range(40)]}).to_csv(root / "items.csv", index=False)
    recipe = tmp_path / "toy.yaml"
    recipe.write_text(f"""
name: toy
seeds: [0, 1]
data: {{dataset: {root}, format: directory, text_fields: [title, genres], image_field: null}}
split: {{kinds: [leave-one-out, new-items]}}
eval: {{n_bins: 3}}
train:
  epochs: 2
  batch_size: 16
  progress: false
  models:
    popularity: {{}}
    content_knn: {{min_df: 1}}
    sasrec: {{dim: 16, n_layers: 1, n_heads: 2, max_len: 8}}
    gru4rec: {{dim: 16, hidden: 16, max_len: 8}}
""")
    return recipe


def test_stage_trains_every_model_per_split_and_seed_and_the_report_renders(dataset, tmp_path):
    cfg = load_recipe(dataset)
    run = tmp_path / "run"
    Pipeline(cfg, run, default_stages()).run()
    reports = {p.parent.name: json.loads(p.read_text()) for p in render_report(run)}
    for split in ("leave-one-out", "new-items"):
        report = reports[split]
        assert report["task"] == "sequential" and report["split"] == split
        assert list(report["models"]) == ["popularity", "content_knn", "sasrec", "gru4rec"]
        sas = report["models"]["sasrec"]
        assert sas["overall"]["NDCG@10"]["n"] == 2 and sas["seeds"] == [0, 1]
        popularity = report["models"]["popularity"]["overall"]["NDCG@10"]
        assert popularity["n"] == 1 and popularity["std"] == 0.0  # deterministic: one run, the same shape
        for key in ("overall", "warm", "cold", "bins", "train_seconds", "eval_seconds"):
            assert key in sas
        assert sas["bins"][0]["bin"] == 0 and sas["bins"][0]["max_count"] == 0
        assert sum(b["n_targets"] for b in sas["bins"]) == sas["n_targets"]
        folder = run / split
        for name in ("report.md", "report.html", "ndcg_by_bin.png", "item_frequency.png"):
            assert (folder / name).is_file()
        assert "data:image/png;base64," in (folder / "report.html").read_text()
    # new-items: every test target is a never-seen item, so everything lands in bin 0 and counts as cold
    new = reports["new-items"]["models"]["sasrec"]
    assert new["bins"][0]["n_targets"] == new["n_targets"] == new["cold"]["n_targets"]
    # ...and an ID-only model is selected on the warm hold-out there, on the split's own validation elsewhere
    results = json.loads((run / "artifacts").glob("train_seq-*/results.json").__next__().read_text())
    for split, where in (("new-items", "warm_holdout"), ("leave-one-out", "valid")):
        for name in ("sasrec", "gru4rec"):
            assert {s["selected_on"] for s in results[split][name]["per_seed"]} == {where}
    assert (run / "index.html").is_file()
    # cached: a second run does not retrain
    stages = Pipeline(cfg, run, default_stages()).run()
    assert (stages["train_seq"] / "models" / "leave-one-out" / "sasrec" / "seed1" / "model.safetensors").is_file()


def test_count_and_content_baselines_are_saved_and_load_with_identical_scores(dataset, tmp_path, capsys):
    """popularity's state is its count vector, content_knn's its item vectors + TF-IDF settings: both are Hub
    folders of the run (one, as they have no seed), load with load_model and push / score like the backbones."""
    from mmrec import catalogue
    from mmrec.cli import main
    from mmrec.core.sequences import left_pad
    from mmrec.data.prepared import load_prepared
    from mmrec.hub import load_model
    from mmrec.models.base import ModelData

    recipe = tmp_path / "baselines.yaml"  # the toy recipe with its two baselines only
    recipe.write_text("\n".join(line for line in dataset.read_text().splitlines()
                                 if "sasrec" not in line and "gru4rec" not in line))
    cfg = load_recipe(recipe, ["split.kinds=[new-items]"])
    run = tmp_path / "run"
    stages = Pipeline(cfg, run, default_stages()).run()
    tables, splits = load_prepared(stages["prepare"])
    split = splits["new-items"]
    data = ModelData(split.n_items, split.train, list(tables.items["text"]))
    histories = left_pad([s for s in split.train[1:6] if len(s)], None)
    for name in ("popularity", "content_knn"):
        folders = sorted((stages["train_seq"] / "models" / "new-items" / name).iterdir())
        assert [f.name for f in folders] == ["seed0"]
        loaded = load_model(folders[0])
        fresh = catalogue.build(name, cfg.train.models[name], data)
        assert type(loaded) is type(fresh)
        assert torch.equal(loaded.score(histories), fresh.score(histories))
    assert load_model(folders[0]).config == cfg.train.models["content_knn"]
    render_report(run)
    hub = tmp_path / "hub"
    assert main(["push", str(run), "me/toy-knn", "--model", "content_knn", "--dry-run", "--local-dir", str(hub)]) == 0
    assert '"min_df": 1' in (hub / "README.md").read_text()
    capsys.readouterr()
    assert main(["score", str(hub), "--history", "i1", "i2", "--top", "3", "--json"]) == 0
    top = [t["item_id"] for t in json.loads(capsys.readouterr().out)]
    assert len(top) == 3 and all(int(item[1:]) % 4 in (1, 2) for item in top)  # the genres of i1 and i2


def test_train_section_is_checked_against_the_registry(dataset):
    with pytest.raises(ConfigError, match="did you mean 'sasrec'"):
        load_recipe(dataset, ["train.models.sasrek={}"])
    with pytest.raises(ConfigError, match="train.models.sasrec.n_head"):
        load_recipe(dataset, ["train.models.sasrec.n_head=2"])


def test_cells_in_worker_processes_give_the_same_results(dataset, tmp_path, monkeypatch):
    """train.workers 2: the (split, model, seed) cells train in two spawned processes, one torch thread each; at one
    thread per process the numbers equal the in-process run exactly, and every cell's model folder is kept."""
    from toy import one_torch_thread, record_worker_calls

    import mmrec.stages.sequential as stage

    sent = record_worker_calls(monkeypatch, stage)
    results = {}
    with one_torch_thread():
        for workers in (1, 2):
            run = tmp_path / f"run{workers}"
            Pipeline(load_recipe(dataset, [f"train.workers={workers}"]), run, default_stages()).run(["train_seq"])
            artifact = next((run / "artifacts").glob("train_seq-*"))
            results[workers] = json.loads((artifact / "results.json").read_text())
            assert {p.parent.name for p in (artifact / "models" / "new-items").glob("*/seed1")} == {
                "sasrec", "gru4rec"}
    assert sent == [("_cell_in_worker", 8, 2)]  # 2 splits x 2 trainable models x 2 seeds, sent to 2 workers (workers=1 sends nothing)
    for split in ("leave-one-out", "new-items"):
        for name in ("sasrec", "gru4rec"):
            one, two = results[1][split][name], results[2][split][name]
            assert [r["NDCG@10"] for r in one["per_seed"]] == [r["NDCG@10"] for r in two["per_seed"]]
            assert one["overall"] == two["overall"]
    with pytest.raises(ConfigError, match="train.workers"):
        load_recipe(dataset, ["train.workers=0"])


def test_python_dash_m_mmrec_with_workers_runs_the_command_once(dataset, tmp_path):
    """``python -m mmrec run ... train.workers=2`` as a user runs it: the spawned workers get the recipe by pickle,
    train, and the command (which multiprocessing does not re-run in a worker for a package's ``__main__``) runs
    the pipeline once."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = tmp_path / "cli-run"
    done = subprocess.run([sys.executable, "-m", "mmrec", "run", str(dataset), "--output", str(run),
                           "--stage", "train_seq", "train.workers=2", "seeds=[0]"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count("stage prepare   running") == 1  # the pipeline ran once, in the parent
    artifact = next((run / "artifacts").glob("train_seq-*"))
    assert set(json.loads((artifact / "results.json").read_text())["leave-one-out"]) >= {"sasrec", "gru4rec"}

"""The align and pad stages end to end: on a toy catalogue (fast: the saved models load, push and score) and on
ml-100k (new-items, slow), tiny models: towers, rows, cached re-run."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_align_and_pad_stages(data_root, tmp_path):
    from mmrec.pipeline import Pipeline
    from mmrec.recipe import load_recipe
    from mmrec.stages import default_stages

    n_items = 1682
    emb = torch.randn(n_items + 1, 8, generator=torch.Generator().manual_seed(0))
    emb[0] = 0
    mask = torch.ones(n_items + 1, dtype=torch.bool)
    mask[0] = False
    (tmp_path / "emb").mkdir()
    save_file({"embeddings": emb, "mask": mask}, str(tmp_path / "emb" / "text.safetensors"))
    cfg = load_recipe(REPO / "recipes" / "ml-100k-pad.yaml", [
        "seeds=[0]", "split.kinds=[new-items]", "train.splits=[new-items]", "train.epochs=1", "train.progress=false",
        "train.models={sasrec: {dim: 16, n_layers: 1, n_heads: 2, max_len: 10}}",
        "pad.align_epochs=1", "pad.finetune_epochs=1", "pad.ablations=[no_mmd, uniform_gate]",
        f"pad.content_dir={tmp_path / 'emb'}", "encode.encoders={}"])
    torch.set_num_threads(1)
    done = Pipeline(cfg, tmp_path / "run", default_stages()).run(["pad"])
    towers = sorted(p.name for p in (done["align"] / "towers" / "new-items").iterdir())
    assert len(towers) == 2  # pad and pad_uniform_gate share a tower; pad_no_mmd has its own
    results = json.loads((done["pad"] / "results.json").read_text())["new-items"]
    assert set(results) == {"pad", "pad_no_mmd", "pad_uniform_gate"}
    assert results["pad"]["bins"][0]["n_targets"] == results["pad"]["n_targets"]  # every target is a new item
    again = Pipeline(cfg, tmp_path / "run", default_stages()).run(["pad"])
    assert again["pad"] == done["pad"]  # cached


def test_pad_stage_saves_hub_models_that_load_push_and_score(tmp_path, capsys):
    """Toy new-items run to the pad stage: the saved PAD reproduces its test numbers when loaded from its folder
    alone, ``mmrec push --dry-run`` writes a card with the headline and new-item numbers, ``mmrec score`` ranks."""
    from toy import write_pad_recipe

    from mmrec.cli import main
    from mmrec.core.seeds import aggregate_seeds
    from mmrec.data.prepared import load_prepared
    from mmrec.eval.evaluate import evaluate, ranking_cases
    from mmrec.hub import load_model
    from mmrec.pad.model import PAD
    from mmrec.pad.tower import AlignedTower
    from mmrec.recipe import load_recipe

    recipe = write_pad_recipe(tmp_path)
    run = tmp_path / "run"
    assert main(["run", str(recipe), "--output", str(run)]) == 0  # as a user runs it: all stages, then the report
    done = {stage: run / rel for stage, rel in json.loads((run / "stages.json").read_text()).items()}
    cfg = load_recipe(recipe)
    results = json.loads((done["pad"] / "results.json").read_text())["new-items"]
    split = load_prepared(done["prepare"])[1]["new-items"]
    for row in ("pad", "pad_uniform_gate"):
        model = load_model(done["pad"] / "models" / "new-items" / row / "seed0")
        assert isinstance(model, PAD) and model.config.gate == ("uniform" if row != "pad" else "frequency")
        again = evaluate(model, ranking_cases(split, "test"), split.item_train_counts(), cfg.eval)
        assert aggregate_seeds([again])["overall"] == results[row]["overall"]  # one seed: {mean, std 0, n 1}
        assert aggregate_seeds([again])["bins"] == results[row]["bins"]
    (tower,) = (done["align"] / "towers" / "new-items").iterdir()
    assert isinstance(load_model(tower / "seed0"), AlignedTower)

    hub = tmp_path / "hub"
    assert main(["push", str(run), "me/toy-pad", "--model", "pad", "--dry-run", "--local-dir", str(hub)]) == 0
    card = (hub / "README.md").read_text()
    new = results["pad"]["bins"][0]
    assert new["max_count"] == 0 and new["n_targets"] == results["pad"]["n_targets"]  # every target is a new item
    for text in ["# pad: an mmrec model", "datasets:\n- toy", "- split: new-items",
                 f"{results['pad']['overall']['NDCG@10']['mean']:.4f}", f"| new items | {new['n_targets']} |",
                 f"| cold | {results['pad']['cold']['n_targets']} |"]:
        assert text in card, text
    capsys.readouterr()
    assert main(["score", str(hub), "--history", "i3", "i4", "i5", "--top", "4", "--json"]) == 0
    top = json.loads(capsys.readouterr().out)
    assert len(top) == 4 and not {"i3", "i4", "i5"} & {t["item_id"] for t in top}


def test_pad_stage_chooses_cold_dropout_on_validation_over_a_tfidf_content_expert(tmp_path):
    """The toy run with ``pad.content_expert: [text, tfidf]`` and a cold-dropout search: the saved PAD's content
    expert reads the 8-d text beside content_knn's TF-IDF, and the chosen cold dropout is the search's best."""
    from toy import write_pad_recipe

    from mmrec.data.prepared import load_prepared
    from mmrec.eval.evaluate import evaluate, ranking_cases
    from mmrec.hub import load_model
    from mmrec.models.content_knn import ContentKNNConfig
    from mmrec.pad.content import tfidf_matrix
    from mmrec.pipeline import Pipeline
    from mmrec.recipe import load_recipe
    from mmrec.stages import default_stages

    cfg = load_recipe(write_pad_recipe(tmp_path), ["pad.content_expert=[text, tfidf]", "pad.ablations=[]",
                                                   "pad.cold_dropout_search=[0.0, 0.3]"])
    torch.set_num_threads(1)
    done = Pipeline(cfg, tmp_path / "run", default_stages()).run(["pad"])
    (per_seed,) = json.loads((done["pad"] / "results.json").read_text())["new-items"]["pad"]["per_seed"]
    searched = per_seed["valid_NDCG@10_by_cold_dropout"]
    assert set(searched) == {"0", "0.3"} and searched[f"{per_seed['cold_dropout']:g}"] == max(searched.values())
    model = load_model(done["pad"] / "models" / "new-items" / "pad" / "seed0")
    assert model.config.cold_dropout == per_seed["cold_dropout"]
    tables, splits = load_prepared(done["prepare"])
    tfidf = tfidf_matrix(list(tables.items["text"]), cfg.train.models.get("content_knn") or ContentKNNConfig())
    content = model.experts[2].item_repr.content.content
    assert content.shape[1] == 8 + tfidf.shape[1] and torch.allclose(content[:, 8:], tfidf)
    split = splits["new-items"]
    again = evaluate(model, ranking_cases(split, "valid"), split.item_train_counts(), cfg.eval)["overall"]["NDCG@10"]
    assert again == pytest.approx(searched[f"{model.config.cold_dropout:g}"])  # the saved model is the chosen one


def test_align_and_pad_cells_in_worker_processes_give_the_same_results(tmp_path, monkeypatch):
    """``train.workers`` 2 with two seeds: the (split, seed) cells of align and pad run in two spawned processes
    (one torch thread each) and the rows' numbers and saved towers equal the in-process run's exactly."""
    from toy import one_torch_thread, record_worker_calls, write_pad_recipe

    import mmrec.pad.stage as stage
    from mmrec.pipeline import Pipeline
    from mmrec.recipe import load_recipe
    from mmrec.stages import default_stages

    sent = record_worker_calls(monkeypatch, stage)
    recipe = write_pad_recipe(tmp_path)
    out = {}
    with one_torch_thread():
        for workers in (1, 2):
            cfg = load_recipe(recipe, ["seeds=[0, 1]", f"train.workers={workers}"])
            done = Pipeline(cfg, tmp_path / f"run{workers}", default_stages()).run(["pad"])
            towers = sorted(p.relative_to(done["align"]) for p in (done["align"] / "towers").rglob("*.safetensors"))
            out[workers] = (json.loads((done["pad"] / "results.json").read_text()), towers,
                            {t: (done["align"] / t).read_bytes() for t in towers})
    # workers=1 runs the cells in this process (run_in_workers with one worker), workers=2 in two processes
    assert sent == [("align_cell", 2, 1), ("pad_cell", 2, 1), ("align_cell", 2, 2), ("pad_cell", 2, 2)]
    assert _untimed(out[1][0]) == _untimed(out[2][0]) and out[1][1] == out[2][1] and len(out[1][1]) >= 2
    assert out[1][2] == out[2][2]  # the saved towers, byte for byte
    assert [r["seed"] for r in out[2][0]["new-items"]["pad"]["per_seed"]] == [0, 1]


def _untimed(value):
    """A results dict without its wall-clock entries (``*_seconds``), which no two runs share."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if not k.endswith("seconds")}
    return [_untimed(v) for v in value] if isinstance(value, list) else value

"""The align and pad stages end to end on ml-100k (new-items), tiny models: towers, rows, cached re-run."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_align_and_pad_stages(data_root, tmp_path):
    from mmrec.config import load_recipe
    from mmrec.pipeline import Pipeline
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

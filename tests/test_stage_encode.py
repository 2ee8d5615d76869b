"""The ``encode`` stage with ``encode.workers`` 2: the encoders run in two spawned processes at once and write
exactly what the in-process run writes (one torch thread per process), with the same ``encode.json`` entries."""

import json

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file
from toy import one_torch_thread, record_worker_calls

import mmrec.stages.encode as stage
from mmrec.core.config import ConfigError
from mmrec.pipeline import Pipeline
from mmrec.recipe import load_recipe
from mmrec.stages import default_stages


@pytest.fixture()
def recipe(tmp_path):
    root = tmp_path / "toy"
    root.mkdir()
    rows = [(f"u{u}", f"i{(u + t) % 12}", 1000 + 10 * t + u) for u in range(10) for t in range(5)]
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(root / "interactions.csv", index=False)
    pd.DataFrame({"item_id": [f"i{i}" for i in range(12)],
                  "title": [f"a film about {w}" if i != 3 else "" for i, w in enumerate("abcdefghijkl")]}
                 ).to_csv(root / "items.csv", index=False)
    path = tmp_path / "toy.yaml"
    path.write_text(f"""
name: toy
data: {{dataset: {root}, format: directory, text_fields: [title], image_field: null}}
split: {{kinds: [leave-one-out]}}
encode:
  encoders:
    mean: {{kind: text, options: {{pooling: mean, batch_size: 4}}}}
    cls: {{kind: text, options: {{pooling: cls, batch_size: 4}}}}
""")
    return path


def test_encoders_in_worker_processes_write_what_the_in_process_run_writes(recipe, tmp_path, monkeypatch):
    sent = record_worker_calls(monkeypatch, stage)
    outputs = {}
    with one_torch_thread():
        for workers in (1, 2):
            run = tmp_path / f"run{workers}"
            Pipeline(load_recipe(recipe, [f"encode.workers={workers}"]), run, default_stages()).run(["encode"])
            artifact = next((run / "artifacts").glob("encode-*"))
            outputs[workers] = {name: load_file(artifact / f"{name}.safetensors") for name in ("mean", "cls")}
            summary = json.loads((artifact / "encode.json").read_text())
            assert list(summary) == ["mean", "cls"] and summary["mean"]["n_missing"] == 1
    assert sent == [("encode_one", 2, 1), ("encode_one", 2, 2)]
    for name in ("mean", "cls"):
        np.testing.assert_array_equal(outputs[1][name]["embeddings"], outputs[2][name]["embeddings"])
        np.testing.assert_array_equal(outputs[1][name]["mask"], outputs[2][name]["mask"])
    assert not np.array_equal(outputs[2]["mean"]["embeddings"], outputs[2]["cls"]["embeddings"])
    with pytest.raises(ConfigError, match="encode.workers"):
        load_recipe(recipe, ["encode.workers=0"])

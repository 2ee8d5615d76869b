"""The catalogue is the one model table: every row builds, names resolve to rows and variants, saved types load,
and CONTRIBUTING.md's worked example (one file + one row) really is all a new model needs."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mmrec import catalogue
from mmrec.core.config import ConfigError
from mmrec.hub import load_model
from mmrec.models.base import ModelData
from mmrec.recipe import load_recipe
from mmrec.train.config import TrainConfig
from mmrec.train.sequential import SequentialTrainer

REPO = Path(__file__).resolve().parents[1]


def test_every_name_resolves_to_one_row_and_every_model_type_is_unique():
    types = [spec.model_class.model_type for spec in catalogue.MODEL_TABLE]
    assert len(set(types)) == len({spec.model_class for spec in catalogue.MODEL_TABLE})
    assert catalogue.resolve("moc3")[0].name == "sasrec_sem"
    assert catalogue.resolve("moc3")[1].overrides == {"variant": "moc3"}
    assert catalogue.resolve("din_mm_te")[1].triple_items
    assert catalogue.resolve("pad_no_mmd")[1].overrides == {"mmd_weight": 0.0}
    assert set(catalogue.names("ctr")) >= {"lr", "deepfm", "din", "din_mm", "diff_msin", "diff_msin_te"}
    assert all(catalogue.model_class(t).model_type == t for t in types)
    with pytest.raises(KeyError, match="did you mean 'sasrec'"):
        catalogue.model_class("sasrek")
    with pytest.raises(ConfigError, match="did you mean 'din_mm'"):
        catalogue.resolve("dinmm")


def test_variant_overrides_sit_under_the_recipe_values():
    config = catalogue.model_config("diff_msin_no_src", {"embed_dim": 8}, "ctr.model_overrides.x", {"embed_dim": 4})
    assert config.use_src is False and config.eps_weight == 0.0 and config.embed_dim == 8
    assert catalogue.model_config("lr", {}, "x", {"embed_dim": 4}) is not None  # a shared field it lacks is skipped


def _contributed_model(tmp_path: Path):
    """CONTRIBUTING.md's example: its model file, imported, and its catalogue row, evaluated as written."""
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "CONTRIBUTING.md").read_text(), re.S)
    (tmp_path / "meanpool.py").write_text(blocks[0])
    spec = importlib.util.spec_from_file_location("meanpool", tmp_path / "meanpool.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["meanpool"] = module
    spec.loader.exec_module(module)
    row = eval(blocks[1].strip().rstrip(","), {"ModelSpec": catalogue.ModelSpec, "SequentialTrainer": SequentialTrainer,
                                               **vars(module)})
    return module, row


def test_contributing_example_is_one_file_and_one_catalogue_row(tmp_path, monkeypatch):
    module, row = _contributed_model(tmp_path)
    monkeypatch.setattr(catalogue, "MODEL_TABLE", (*catalogue.MODEL_TABLE, row))
    monkeypatch.setitem(catalogue._BY_NAME, row.name, (row, catalogue.Variant()))
    recipe = tmp_path / "r.yaml"
    recipe.write_text("train: {models: {meanpool: {dim: 8, max_len: 6}}}\n")
    cfg = load_recipe(recipe)
    assert isinstance(cfg.train.models["meanpool"], module.MeanPoolConfig)
    with pytest.raises(ConfigError, match="did you mean 'dim'"):
        recipe.write_text("train: {models: {meanpool: {dimm: 8}}}\n")
        load_recipe(recipe)
    rng = np.random.default_rng(0)
    train = [np.zeros(0, np.int64)] + [rng.integers(1, 21, 12) for _ in range(40)]
    torch.manual_seed(0)
    model = catalogue.build("meanpool", cfg.train.models["meanpool"], ModelData(20, train))
    histories = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7]])
    before = model.score(histories).detach().clone()
    from mmrec.eval.metrics import RankingCases

    valid = RankingCases.build([s[:-1] for s in train[1:]], np.array([s[-1] for s in train[1:]]), None)
    row.trainer(model, train, valid, TrainConfig(epochs=2, batch_size=8, patience=2, progress=False), seed=0).fit()
    assert not torch.equal(model.score(histories), before)  # the catalogue's trainer trained it
    model.save_pretrained(tmp_path / "saved")
    loaded = load_model(tmp_path / "saved")  # found by its model_type through the catalogue
    assert type(loaded) is module.MeanPool
    assert torch.equal(loaded.score(histories), model.eval().score(histories))

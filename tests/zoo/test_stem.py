"""STEM / AME: a task's embedding set (and expert) receives exactly zero gradient from another task's loss, while
the shared set hears both; both tasks are learnt; the Hub round trip is exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mmrec import catalogue
from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.hub import load_model
from mmrec.models.zoo.stem import STEM, STEMConfig
from mmrec.train.common import seed_everything
from mmrec.train.multitask import MultiTaskTrainConfig, evaluate_tasks, train_multitask

FIELDS = parse_fields([{"name": "user", "type": "categorical"}, {"name": "item", "type": "categorical"},
                       {"name": "click", "type": "label"}, {"name": "buy", "type": "label"}])
SMALL = {"embed_dim": 4, "hidden_units": [16], "tower_units": [8], "dropout": 0.0, "labels": ["click", "buy"]}


def frame(n: int, seed: int) -> pd.DataFrame:
    """click = the item's parity, buy = the user's parity: tasks that share nothing."""
    rng = np.random.default_rng(seed)
    user, item = rng.integers(0, 20, n), rng.integers(0, 30, n)
    return pd.DataFrame({"user": user.astype(str), "item": item.astype(str), "click": item % 2, "buy": user % 2})


@pytest.fixture(scope="module")
def fmap():
    return FeatureMap.fit(FIELDS, frame_chunks(frame(400, 0)))


def build(fmap) -> STEM:
    seed_everything(0)
    model = STEM(STEMConfig(**SMALL), fmap)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return model


def test_a_task_table_gets_exactly_zero_gradient_from_the_other_task(fmap):
    model = build(fmap).train()
    data = fmap.encode(frame(64, 1))
    batch = model.features.pack({k: v for k, v in data.items() if k not in ("click", "buy")})
    tables = [model.features.table.weight] + [layer.table.weight for layer in model.task_features]
    experts = [list(e.parameters()) for e in model.task_experts]
    for t, task in enumerate(model.tasks):
        loss = model.task_loss(model.outputs(batch), torch.stack([data["click"], data["buy"]], 1).float())
        grads = torch.autograd.grad(loss[f"bce_{task}"], tables + experts[0] + experts[1], allow_unused=True)
        shared, own, other = grads[0], grads[1 + t], grads[2 - t]
        assert shared.abs().sum() > 0 and own.abs().sum() > 0
        assert other is None or torch.count_nonzero(other) == 0
        own_expert = grads[3:3 + len(experts[0])] if t == 0 else grads[3 + len(experts[0]):]
        other_expert = grads[3 + len(experts[0]):] if t == 0 else grads[3:3 + len(experts[0])]
        assert all(g is not None and g.abs().sum() > 0 for g in own_expert)
        assert all(g is None or torch.count_nonzero(g) == 0 for g in other_expert)


def test_both_tasks_are_learnt_and_the_hub_round_trip_is_exact(fmap, tmp_path):
    train, valid = fmap.encode(frame(2000, 2)), fmap.encode(frame(500, 3))
    model = build(fmap)
    train_multitask(model, train, valid, MultiTaskTrainConfig(lr=2e-2, batch_size=256, max_epochs=5))
    scores = evaluate_tasks(model, valid)
    assert scores["AUC_click"] > 0.95 and scores["AUC_buy"] > 0.95, scores
    rows = frame(30, 4).drop(columns=["click", "buy"]).to_dict(orient="records")
    model.save_pretrained(tmp_path / "stem")
    loaded = load_model(tmp_path / "stem")
    assert type(loaded) is STEM and catalogue.lookup("zoo_stem").model_class is STEM
    np.testing.assert_array_equal(loaded.predict_tasks(rows), model.predict_tasks(rows))


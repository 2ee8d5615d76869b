"""Multi-domain / multi-task base (shared-bottom, MMoE, PLE, ME-MMoE, Crocodile): each sample is scored by its own
domain's parts alone (forward and gradient), an unseen domain gets the mean of the domains; the multi-label trainer
learns every weighted label and stops on the monitored one; per-domain metrics match a hand computation; the
entanglement tool separates tasks that share their signal from tasks that do not; the Hub round trip is exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from mmrec.eval.domain_metrics import domain_report, model_domain_report, model_entanglement
from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.hub import load_model
from mmrec.models.zoo.multidomain.crocodile import Crocodile, CrocodileConfig
from mmrec.models.zoo.multidomain.me_mmoe import MEMMoE, MEMMoEConfig
from mmrec.models.zoo.multidomain.mmoe import MMoE, MMoEConfig
from mmrec.models.zoo.multidomain.ple import PLE, PLEConfig
from mmrec.models.zoo.multidomain.shared_bottom import SharedBottom, SharedBottomConfig
from mmrec.train.common import seed_everything
from mmrec.train.multitask import MultiTaskTrainConfig, evaluate_tasks, train_multitask

FIELDS = parse_fields([{"name": "user", "type": "categorical"}, {"name": "item", "type": "categorical"},
                       {"name": "dom", "type": "domain"}, {"name": "a", "type": "label"},
                       {"name": "b", "type": "label"}])
SMALL = {"embed_dim": 4, "hidden_units": [16], "tower_units": [8], "dropout": 0.0, "labels": ["a", "b"]}
MODELS = {"shared_bottom": (SharedBottom, SharedBottomConfig, {}), "mmoe": (MMoE, MMoEConfig, {"num_experts": 3}),
          "ple": (PLE, PLEConfig, {"levels": 2}), "me_mmoe": (MEMMoE, MEMMoEConfig, {}),
          "crocodile": (Crocodile, CrocodileConfig, {})}


def frame(n: int, seed: int, b_rule: str = "user") -> pd.DataFrame:
    """Label a = the item's parity; b = the user's parity ("user") or a itself ("same"); 3 domains."""
    rng = np.random.default_rng(seed)
    user, item = rng.integers(0, 20, n), rng.integers(0, 30, n)
    a = item % 2
    b = a if b_rule == "same" else user % 2
    flip = rng.random(n) < 0.05
    return pd.DataFrame({"user": user.astype(str), "item": item.astype(str), "dom": rng.choice(["x", "y", "z"], n),
                         "a": np.where(flip, 1 - a, a), "b": b})


@pytest.fixture(scope="module")
def fmap():
    return FeatureMap.fit(FIELDS, frame_chunks(frame(600, 0)))


def build(name: str, fmap, **extra):
    cls, config_cls, own = MODELS[name]
    seed_everything(0)
    model = cls(config_cls(**{**SMALL, **own, **extra}), fmap)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return model.eval()


@pytest.mark.parametrize("name", list(MODELS))
def test_a_sample_is_scored_by_its_own_domains_parts_only(name, fmap):
    model = build(name, fmap)
    rows = frame(60, 1)
    rows.loc[:4, "dom"] = "never-seen"
    data = fmap.encode(rows, labels=False)
    before = model.predict_tasks(data)
    domains = model.domains(model.features.pack(data))
    assert (domains[:5] == -1).all() and set(domains[5:].tolist()) == {0, 1, 2}
    with torch.no_grad():  # change everything domain 1 owns
        for parts in model.domain_parts():
            for p in parts[1].parameters():
                p.add_(1.0)
    after = model.predict_tasks(data)
    changed = np.abs(after - before).max(1) > 1e-6
    np.testing.assert_array_equal(changed[5:], (domains[5:] == 1).numpy())
    assert changed[:5].all()  # unseen: the mean over every domain's parts
    model.forced_domain = 1
    forced = model.predict_tasks(data)
    model.forced_domain = None
    np.testing.assert_allclose(forced[domains == 1], after[domains == 1], rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", list(MODELS))
def test_domain_parts_get_no_gradient_from_other_domains(name, fmap):
    model = build(name, fmap).train()
    data = model.features.pack(fmap.encode(frame(64, 2), labels=False))
    keep = (model.domains(data) != 2).nonzero().squeeze(1)
    logits = model.outputs({k: v[keep] for k, v in data.items()}).logits
    logits.sum().backward()
    for parts in model.domain_parts():
        assert all(p.grad is None or not p.grad.any() for p in parts[2].parameters())
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in parts[0].parameters())


def test_the_trainer_learns_each_weighted_label_and_monitors_the_named_one(fmap):
    train, valid = fmap.encode(frame(2000, 3)), fmap.encode(frame(600, 4))
    config = MultiTaskTrainConfig(lr=2e-2, batch_size=256, max_epochs=6, patience=2, monitor_task="a",
                                  task_weights={"b": 0.0})
    model = build("mmoe", fmap)
    result = train_multitask(model, train, valid, config)
    scores = evaluate_tasks(model, valid)
    assert scores["AUC_a"] > 0.9 and abs(scores["AUC_b"] - 0.5) < 0.1, scores  # b weighted 0: not learnt
    assert result.best_valid["AUC_a"] == max(h["AUC_a"] for h in result.history)
    assert scores["AUC_a"] == pytest.approx(result.best_valid["AUC_a"], abs=1e-12)
    both = build("mmoe", fmap)
    train_multitask(both, train, valid, MultiTaskTrainConfig(lr=2e-2, batch_size=256, max_epochs=6))
    scores = evaluate_tasks(both, valid)
    assert min(scores["AUC_a"], scores["AUC_b"]) > 0.9 and scores["AUC"] == pytest.approx(
        (scores["AUC_a"] + scores["AUC_b"]) / 2)


def test_domain_report_matches_a_hand_computation():
    domains = np.array([0, 0, 0, 0, 1, 1, 1, -1, -1])
    labels = np.array([1, 0, 1, 0, 1, 0, 0, 1, 0])
    probs = np.array([0.9, 0.8, 0.3, 0.1, 0.2, 0.6, 0.1, 0.5, 0.4])
    users = np.array([7, 7, 8, 8, 7, 7, 7, 9, 9])
    report = domain_report(domains, labels, probs, users, names=["x", "y"])
    # x: positives 0.9, 0.3 vs negatives 0.8, 0.1 -> 3 of 4 pairs; per user: 7 -> 1, 8 -> 1 (GAUC 1)
    # y: positive 0.2 vs 0.6, 0.1 -> 1 of 2 pairs; one user, AUC 0.5
    assert report["domains"]["x"]["AUC"] == 0.75 and report["domains"]["x"]["GAUC"] == 1.0
    assert report["domains"]["y"]["AUC"] == 0.5 and report["domains"]["y"]["GAUC"] == 0.5
    assert report["domains"]["<unseen>"]["n"] == 2
    assert report["worst"] == {"AUC": 0.5, "AUC_domain": "y", "GAUC": 0.5, "GAUC_domain": "y"}
    ll = -(np.log(0.9) + np.log(0.2) + np.log(0.3) + np.log(0.9)) / 4
    assert report["domains"]["x"]["LogLoss"] == pytest.approx(ll)


def test_model_domain_report_reads_the_models_routing(fmap):
    model = build("shared_bottom", fmap)
    rows = frame(300, 5)
    data = fmap.encode(rows)
    report = model_domain_report(model, data, user_field="user", task="b")
    probs = model.predict_tasks(data)[:, 1]
    sel = (rows.dom == "y").to_numpy()
    assert report["domains"]["y"]["AUC"] == pytest.approx(roc_auc_score(rows.b[sel], probs[sel]))
    assert sum(v["n"] for v in report["domains"].values()) == 300


def test_entanglement_separates_shared_from_unrelated_tasks(fmap):
    cosines = {}
    for rule in ("same", "user"):
        train = fmap.encode(frame(3000, 6, rule))
        model = build("shared_bottom", fmap)
        train_multitask(model, train, train, MultiTaskTrainConfig(lr=2e-2, batch_size=256, max_epochs=1))
        cosines[rule] = model_entanglement(model, fmap.encode(frame(2000, 7, rule)), by="task")["matrix"][0][1]
    assert cosines["same"] > 0.6 and cosines["same"] > cosines["user"] + 0.3, cosines
    by_domain = model_entanglement(model, fmap.encode(frame(2000, 7)), by="domain")
    assert by_domain["tasks"] == model.domain_values and sorted(model.domain_values) == ["x", "y", "z"] and by_domain["matrix"][0][0] == pytest.approx(1.0)


@pytest.mark.parametrize("name", list(MODELS))
def test_hub_round_trip_predicts_every_task_identically(name, fmap, tmp_path):
    model = build(name, fmap)
    rows = frame(40, 8).drop(columns=["a", "b"]).to_dict(orient="records")
    before = model.predict_tasks(rows)
    assert before.shape == (40, 2)
    model.save_pretrained(tmp_path / name)
    loaded = load_model(tmp_path / name)
    assert type(loaded) is type(model) and loaded.tasks == ["a", "b"]
    np.testing.assert_array_equal(loaded.predict_tasks(rows), before)
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))
    np.testing.assert_allclose(loaded.predict(rows), before[:, 0], rtol=0, atol=1e-6)  # predict: the first task


def test_bad_settings_name_the_problem(fmap):
    with pytest.raises(ValueError, match="labels \\['c'\\] are not labels"):
        SharedBottom(SharedBottomConfig(labels=["a", "c"]), fmap)
    with pytest.raises(ValueError, match="domain_field 'user' is not a domain field"):
        SharedBottom(SharedBottomConfig(domain_field="user"), fmap)

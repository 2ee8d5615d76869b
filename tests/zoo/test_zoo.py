"""Zoo models on the feature layer: Hub round trip with the feature map (raw rows in), and the mechanisms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mmrec import catalogue
from mmrec.eval.ctr_metrics import auc
from mmrec.features import FeatureError, FeatureMap, frame_chunks, parse_fields
from mmrec.hub import load_model
from mmrec.train.common import seed_everything
from mmrec.train.fields import FieldTrainConfig, evaluate, train_fields

MODELS = {spec.name.removeprefix("zoo_"): (spec.model_class, spec.config_class) for spec in catalogue.rows("fields")}

# Every zoo model must build on these fields with its default config: the behaviour sequence uses the
# ml-100k CTR recipe's names (item / category, history.hist_item / hist_category), the sequence models' defaults;
# the context `when` and history.hist_hour / hist_weekday / hist_age are the time-aware models' (TLSI, TIM).
FIELDS = [{"name": "user", "type": "categorical"}, {"name": "item", "type": "categorical"},
          {"name": "category", "type": "categorical"},
          {"name": "tags", "type": "multi_categorical"}, {"name": "price", "type": "numeric"},
          {"name": "dom", "type": "domain"}, {"name": "txt", "type": "embedding", "source": "item"},
          {"name": "when", "type": "context", "source": "ts"},
          {"name": "history", "type": "sequence", "max_len": 6,
           "vocabulary_of": {"hist_item": "item", "hist_category": "category"},
           "fields": [{"name": "hist_item", "type": "categorical"}, {"name": "hist_category", "type": "categorical"},
                      {"name": "hist_age", "type": "numeric"}, {"name": "hist_hour", "type": "categorical"},
                      {"name": "hist_weekday", "type": "categorical"}, {"name": "hist_rating", "type": "categorical"}]},
          {"name": "click", "type": "label"}]


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 9, n)
    items = rng.integers(0, 30, n)
    return pd.DataFrame({"user": rng.integers(0, 20, n).astype(str), "item": items.astype(str),
                         "category": (items % 4).astype(str),
                         "tags": ["|".join(rng.choice(list("abcde"), rng.integers(0, 3))) for _ in range(n)],
                         "price": np.where(rng.random(n) < 0.1, np.nan, rng.gamma(2.0, 3.0, n)),
                         "dom": rng.integers(0, 3, n),
                         "hist_item": ["|".join(map(str, rng.integers(0, 30, k))) for k in lengths],
                         "hist_category": ["|".join(map(str, rng.integers(0, 4, k))) for k in lengths],
                         "hist_age": ["|".join(f"{x:.2f}" for x in rng.gamma(2.0, 2.0, k)) for k in lengths],
                         "ts": rng.integers(0, 10**9, n),
                         "hist_hour": ["|".join(map(str, rng.integers(0, 24, k))) for k in lengths],
                         "hist_weekday": ["|".join(map(str, rng.integers(0, 7, k))) for k in lengths],
                         "hist_rating": ["|".join(map(str, rng.integers(1, 6, k))) for k in lengths],
                         "click": rng.integers(0, 2, n)})


@pytest.fixture(scope="module")
def fmap_and_table():
    frame = _frame(400, 0)
    ids = [str(i) for i in range(25)]  # items 25..29 have no vector
    fmap = FeatureMap.fit(parse_fields(FIELDS), frame_chunks(frame), {"txt": (ids, 5)})
    table = torch.randn(26, 5)
    table[0] = 0
    return fmap, table


def test_models_are_listed_with_their_configs():
    assert {"lr", "fm", "dnn", "deepfm", "dcnv2", "apg_dnn", "apg_deepfm", "din"} <= set(MODELS)
    for cls, config_cls in MODELS.values():
        assert cls.config_class is config_cls


@pytest.mark.parametrize("name", list(MODELS))
def test_hub_round_trip_predicts_raw_rows_identically(name, fmap_and_table, tmp_path):
    fmap, table = fmap_and_table
    cls, config_cls = MODELS[name]
    seed_everything(0)
    model = cls(config_cls(embed_dim=4, **({"hidden_units": [8]} if "hidden_units" in config_cls.__dataclass_fields__
                                           else {})), fmap, {"txt": table})
    with torch.no_grad():  # move every weight away from its init so a lost tensor would show
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    rows = _frame(50, 1).drop(columns="click").to_dict(orient="records")
    before = model.predict(rows)
    assert before.shape == (50,) and ((before > 0) & (before < 1)).all()
    model.save_pretrained(tmp_path / name)
    loaded = load_model(tmp_path / name)
    assert type(loaded) is cls and torch.equal(loaded.features.frozen_txt, table)
    assert loaded.feature_map.to_dict() == fmap.to_dict()
    np.testing.assert_array_equal(loaded.predict(rows), before)
    np.testing.assert_array_equal(loaded.predict(pd.DataFrame(rows)), before)


def test_a_mismatched_feature_map_is_refused(fmap_and_table):
    fmap, table = fmap_and_table
    model = MODELS["lr"][0](MODELS["lr"][1](), fmap, {"txt": table})
    other = FeatureMap.fit(parse_fields(FIELDS), frame_chunks(_frame(400, 5).assign(item="only-one")),
                           {"txt": ([str(i) for i in range(25)], 5)})
    with pytest.raises(FeatureError, match="new.json: vocabulary mismatch on field 'item'"):
        model.check_feature_map(other, "new.json")


SIGNS = np.stack([np.random.default_rng(k).permutation([-1.0, 1.0] * 5) for k in (7, 8)])  # balanced per field


def _planted(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Clicks depend only on the product of two per-value signs (half +1, half -1 per field): a pure pairwise
    effect with no main effect, so a first-order model sits at AUC 0.5. Also returns the true probabilities."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 10, n), rng.integers(0, 10, n)
    p = 1 / (1 + np.exp(-3.0 * SIGNS[0, a] * SIGNS[1, b]))
    return pd.DataFrame({"a": a, "b": b, "click": (rng.random(n) < p).astype(int)}), p


def test_fm_recovers_a_planted_pairwise_interaction_that_lr_cannot():
    fields = parse_fields([{"name": "a", "type": "categorical"}, {"name": "b", "type": "categorical"},
                           {"name": "click", "type": "label"}])
    (train, _), (valid, truth) = _planted(6000, 0), _planted(2000, 1)
    fmap = FeatureMap.fit(fields, frame_chunks(train))
    data = {"train": fmap.encode(train), "valid": fmap.encode(valid)}
    scores = {}
    for name in ("lr", "fm"):
        cls, config_cls = MODELS[name]
        seed_everything(0)
        model = cls(config_cls(embed_dim=4), fmap)
        train_fields(model, data["train"], data["valid"],
                     FieldTrainConfig(lr=0.05, batch_size=256, max_epochs=10, patience=3))
        scores[name] = evaluate(model, data["valid"])["AUC"]
    oracle = auc(valid.click.to_numpy(), truth)
    assert scores["lr"] < 0.6 and scores["fm"] > oracle - 0.02 and scores["fm"] > scores["lr"] + 0.2, (scores, oracle)


def test_training_lowers_the_loss_and_restores_the_best_epoch(fmap_and_table):
    fmap, table = fmap_and_table
    frame = _frame(2000, 3)
    frame["click"] = (frame["item"].astype(int) % 3 == 0).astype(int)  # learnable from the item alone
    data = {"train": fmap.encode(frame.iloc[:1500]), "valid": fmap.encode(frame.iloc[1500:])}
    cls, config_cls = MODELS["deepfm"]
    seed_everything(0)
    model = cls(config_cls(embed_dim=4, hidden_units=[16]), fmap, {"txt": table})
    result = train_fields(model, data["train"], data["valid"],
                          FieldTrainConfig(lr=1e-2, batch_size=256, max_epochs=30, patience=2))
    history = result.history
    assert history[-1]["train_bce"] < 0.5 * history[0]["train_bce"]
    assert result.best_valid["AUC"] == max(h["AUC"] for h in history) > 0.95
    assert evaluate(model, data["valid"])["AUC"] == pytest.approx(result.best_valid["AUC"], abs=1e-12)
    assert result.epochs == len(history) <= 30


def _motif(n: int, seed: int) -> pd.DataFrame:
    """A click iff the candidate's category appears in the user's history: only target attention sees it."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 7, n)
    hist = [rng.integers(0, 8, k) for k in lengths]
    items = rng.integers(0, 40, n)
    clicks = [int(item % 8 in set(h % 8)) for item, h in zip(items, hist)]
    return pd.DataFrame({"item": items.astype(str), "category": (items % 8).astype(str),
                         "hist_item": ["|".join(map(str, h)) for h in hist],
                         "hist_category": ["|".join(map(str, h % 8)) for h in hist], "click": clicks})


def test_din_finds_the_target_in_the_history_where_dnn_cannot():
    fields = parse_fields([{"name": "item", "type": "categorical"}, {"name": "category", "type": "categorical"},
                           {"name": "history", "type": "sequence", "max_len": 6,
                            "vocabulary_of": {"hist_item": "item", "hist_category": "category"},
                            "fields": [{"name": "hist_item", "type": "categorical"},
                                       {"name": "hist_category", "type": "categorical"}]},
                           {"name": "click", "type": "label"}])
    train, valid = _motif(3000, 0), _motif(1000, 1)
    fmap = FeatureMap.fit(fields, frame_chunks(train))
    data = {"train": fmap.encode(train), "valid": fmap.encode(valid)}
    scores = {}
    for name in ("dnn", "din"):
        cls, config_cls = MODELS[name]
        seed_everything(0)
        model = cls(config_cls(embed_dim=8, hidden_units=[32], dropout=0.0), fmap)
        train_fields(model, data["train"], data["valid"],
                     FieldTrainConfig(lr=1e-2, batch_size=256, max_epochs=8, patience=2))
        scores[name] = evaluate(model, data["valid"])["AUC"]
    assert scores["din"] > 0.9 and scores["din"] > scores["dnn"] + 0.15, scores


def test_din_attention_ignores_padded_events():
    fields = parse_fields(FIELDS)
    frame = _frame(60, 4)
    fmap = FeatureMap.fit(fields, frame_chunks(frame), {"txt": ([str(i) for i in range(25)], 5)})
    cls, config_cls = MODELS["din"]
    model = cls(config_cls(embed_dim=4, hidden_units=[8]), fmap).eval()
    batch = fmap.encode(frame.drop(columns="click"), labels=False)
    with torch.no_grad():
        before = model(batch)
        model.features.table.weight[0].normal_()  # the padding row: padded history slots read it
        after = model(batch)
    torch.testing.assert_close(after, before)

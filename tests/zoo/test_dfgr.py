"""DFGR and its interleaved baseline: the masks (an action never reaches its own prediction; candidates never
see each other), one-pass multi-candidate scoring equal to one pass per candidate, and a planted action effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mmrec import catalogue
from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.models.zoo.dfgr import DFGR, DFGRConfig
from mmrec.models.zoo.interleaved import Interleaved
from mmrec.train.common import seed_everything
from mmrec.train.fields import FieldTrainConfig, evaluate, train_fields

FIELDS = [{"name": "user", "type": "categorical"}, {"name": "item", "type": "categorical"},
          {"name": "category", "type": "categorical"},
          {"name": "history", "type": "sequence", "max_len": 8,
           "vocabulary_of": {"hist_item": "item", "hist_category": "category"},
           "fields": [{"name": "hist_item", "type": "categorical"}, {"name": "hist_category", "type": "categorical"},
                      {"name": "hist_rating", "type": "categorical"}]},
          {"name": "click", "type": "label"}]
FLOW_MODELS = [DFGR, Interleaved]


def _frame(n: int, seed: int, min_len: int = 0) -> pd.DataFrame:
    """Random events; ``click`` = the target's category was among the history's positively rated (4 / 5)
    behaviours: a model must read the actions to see it (the same categories also appear rated 1 / 2)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(max(min_len, 4), 9, n)
    hist = [rng.integers(0, 40, k) for k in lengths]
    ratings = [rng.choice([1, 2, 4, 5], k) for k in lengths]
    items = rng.integers(0, 40, n)
    clicks = [int(any(h % 4 == item % 4 and r >= 4 for h, r in zip(hs, rs)))
              for item, hs, rs in zip(items, hist, ratings)]
    return pd.DataFrame({"user": rng.integers(0, 10, n).astype(str), "item": items.astype(str),
                         "category": (items % 4).astype(str),
                         "hist_item": ["|".join(map(str, h)) for h in hist],
                         "hist_category": ["|".join(map(str, h % 4)) for h in hist],
                         "hist_rating": ["|".join(map(str, r)) for r in ratings], "click": clicks})


@pytest.fixture(scope="module")
def fmap():
    return FeatureMap.fit(parse_fields(FIELDS), frame_chunks(_frame(500, 0)))


def _model(cls, fmap, **overrides):
    seed_everything(0)
    config = DFGRConfig(embed_dim=8, hidden_units=[16], model_dim=16, **overrides)
    model = cls(config, fmap).eval()
    with torch.no_grad():  # away from the init so every weight matters
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


@pytest.mark.parametrize("cls", FLOW_MODELS)
def test_changing_action_i_never_changes_prediction_i(cls, fmap):
    model = _model(cls, fmap)
    batch = fmap.encode(_frame(64, 1, min_len=8).drop(columns="click"), labels=False)
    key = "history.hist_rating"
    with torch.no_grad():
        before = model.action_logits(batch)
        for i in (0, 3, 7):
            changed = dict(batch)
            changed[key] = batch[key].clone()
            changed[key][:, i] = torch.where(batch[key][:, i] == 2, 3, 2)  # another real rating token
            after = model.action_logits(changed)
            torch.testing.assert_close(after[:, :i + 1], before[:, :i + 1], rtol=0, atol=1e-6)
            if i < 7:  # later predictions do read action i
                assert (after[:, i + 1:] - before[:, i + 1:]).abs().max() > 1e-3


def _groups(users: int, candidates: int, seed: int) -> pd.DataFrame:
    """``users`` groups of ``candidates`` rows sharing user and history, each with its own target."""
    base = _frame(users, seed, min_len=3).drop(columns="click")
    rows = base.loc[base.index.repeat(candidates)].reset_index(drop=True)
    items = np.random.default_rng(seed + 1).integers(0, 40, len(rows))
    return rows.assign(item=items.astype(str), category=(items % 4).astype(str))


@pytest.mark.parametrize("cls", FLOW_MODELS)
def test_candidates_scored_in_one_pass_never_see_each_other(cls, fmap):
    model = _model(cls, fmap)
    users, m = 6, 5
    frame = _groups(users, m, 2)
    batch = fmap.encode(frame, labels=False)
    with torch.no_grad():
        one_pass = model.score_groups(batch, m)
        separately = model(batch)  # one flow per row, the row's target its only candidate
        torch.testing.assert_close(one_pass, separately, rtol=0, atol=1e-5)
        order = np.concatenate([g * m + np.random.default_rng(g).permutation(m) for g in range(users)])
        permuted = model.score_groups(fmap.encode(frame.iloc[order], labels=False), m)
        torch.testing.assert_close(permuted, one_pass[order], rtol=0, atol=1e-5)
        other = frame.copy()
        first = other.index % m == 0
        other.loc[first, "item"], other.loc[first, "category"] = "39", "3"  # change each group's first candidate
        changed = model.score_groups(fmap.encode(other, labels=False), m)
    moved = ~torch.isclose(changed, one_pass, rtol=0, atol=1e-6)
    assert moved[torch.as_tensor(first)].any() and not moved[~torch.as_tensor(first)].any()
    with pytest.raises(ValueError, match="groups of 4"):
        model.score_groups(batch, 4)


def test_training_forward_adds_the_fake_token_action_loss(fmap):
    model = _model(DFGR, fmap).train()
    data = fmap.encode(_frame(64, 3))
    labels = data.pop("click")
    loss = {k: v.detach() for k, v in model.loss(model(data), labels).items()}
    assert set(loss) == {"loss", "bce", "action_bce"}
    assert float(loss["loss"]) == pytest.approx(float(loss["bce"] + loss["action_bce"]), rel=1e-6)
    model.eval()
    assert set(model.loss(model(data), labels)) == {"loss", "bce"}


def test_dfgr_reads_actions_where_din_cannot(fmap):
    train, valid = _frame(2000, 10), _frame(600, 11)
    data = {"train": fmap.encode(train), "valid": fmap.encode(valid)}
    specs = {spec.name: spec for spec in catalogue.rows("fields")}
    scores = {}
    for name in ("zoo_din", "zoo_dfgr"):
        spec = specs[name]
        extra = {"model_dim": 16} if name == "zoo_dfgr" else {}
        seed_everything(0)
        model = spec.model_class(spec.config_class(embed_dim=8, hidden_units=[32], dropout=0.0, **extra), fmap)
        train_fields(model, data["train"], data["valid"],
                     FieldTrainConfig(lr=1e-2, batch_size=128, max_epochs=6, patience=2))
        scores[name] = evaluate(model, data["valid"])["AUC"]
    assert scores["zoo_dfgr"] > 0.95 and scores["zoo_dfgr"] > scores["zoo_din"] + 0.1, scores

"""DHEN multi-task CVR: the sequence token is causal (a behaviour's action never reaches the states that predict
it), the next-action loss equals a hand computation, it is on only in training and off at aux_weight 0, and on
planted data both heads learn their task while the auxiliary loss falls below the action chain's chance level."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from mmrec import catalogue
from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.models.zoo.dhen_multitask import DHENMultiTask, DHENMultiTaskConfig
from mmrec.train.common import seed_everything
from mmrec.train.multitask import MultiTaskTrainConfig, evaluate_tasks, train_multitask

FIELDS = [{"name": "user", "type": "categorical"}, {"name": "item", "type": "categorical"},
          {"name": "category", "type": "categorical"},
          {"name": "history", "type": "sequence", "max_len": 8,
           "vocabulary_of": {"hist_item": "item", "hist_category": "category"},
           "fields": [{"name": "hist_item", "type": "categorical"}, {"name": "hist_category", "type": "categorical"},
                      {"name": "hist_rating", "type": "categorical"}]},
          {"name": "click", "type": "label"}, {"name": "conversion", "type": "label"}]


def _frame(n: int, seed: int) -> pd.DataFrame:
    """Actions follow a sticky chain (the next rating is positive like the last with probability 0.9): the next
    action is predictable from the past. click = the user and the item agree mod 4 (a cross of two flat fields);
    conversion = click and the last behaviour was positive (it needs the sequence token)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 9, n)
    hist, ratings = [], []
    for k in lengths:
        hist.append(rng.integers(0, 40, k))
        positive = [rng.random() < 0.5]
        for _ in range(k - 1):
            positive.append(positive[-1] if rng.random() < 0.9 else not positive[-1])
        ratings.append(np.where(positive, rng.choice([4, 5], k), rng.choice([1, 2], k)))
    items, users = rng.integers(0, 40, n), rng.integers(0, 12, n)
    click = (users % 4 == items % 4).astype(int)
    conversion = click * np.array([int(r[-1] >= 4) for r in ratings])
    return pd.DataFrame({"user": users.astype(str), "item": items.astype(str),
                         "category": (items % 4).astype(str),
                         "hist_item": ["|".join(map(str, h)) for h in hist],
                         "hist_category": ["|".join(map(str, h % 4)) for h in hist],
                         "hist_rating": ["|".join(map(str, r)) for r in ratings],
                         "click": click, "conversion": conversion})


@pytest.fixture(scope="module")
def fmap():
    return FeatureMap.fit(parse_fields(FIELDS), frame_chunks(_frame(600, 0)))


def _model(fmap, **overrides) -> DHENMultiTask:
    seed_everything(0)
    config = DHENMultiTaskConfig(embed_dim=8, hidden_units=[16], tower_units=[8], labels=["click", "conversion"],
                                 max_history=8, **overrides)
    return DHENMultiTask(config, fmap)


def test_a_behaviours_action_never_reaches_the_states_before_it(fmap):
    model = _model(fmap).eval()
    batch = fmap.encode(_frame(16, 1), labels=False)
    key = "history.hist_rating"
    with torch.no_grad():
        states, mask = model.sequence_states(model.features(batch))
        changed = {k: v.clone() for k, v in batch.items()}
        j = 5  # a column that is real for rows with a long enough history (left padding)
        rows = mask[:, j].nonzero().squeeze(1)
        assert len(rows) > 3
        changed[key][rows, j] = torch.where(batch[key][rows, j] == 2, 3, 2)
        after, _ = model.sequence_states(model.features(changed))
    torch.testing.assert_close(after[rows, :j], states[rows, :j], rtol=0, atol=0)
    assert (after[rows, j:] - states[rows, j:]).abs().amax() > 1e-4  # ... and does reach its own and later ones
    assert torch.equal(states[~mask], torch.zeros_like(states[~mask]))  # padding states are zero


def test_next_action_loss_matches_a_hand_computation(fmap):
    model = _model(fmap, aux_horizon=2)
    states = torch.randn(2, 4, 8)
    mask = torch.tensor([[False, True, True, True], [True, True, True, True]])
    pos = int(model.positive.nonzero()[0])
    neg = int((~model.positive[2:]).nonzero()[0]) + 2
    actions = torch.tensor([[0, pos, neg, pos], [neg, neg, pos, pos]])
    logits = model.next_action(states)
    terms = []
    for b in range(2):
        for i in range(4):
            for k in (1, 2):
                if i + k < 4 and mask[b, i] and mask[b, i + k]:
                    target = torch.tensor(float(actions[b, i + k] == pos))
                    terms.append(F.binary_cross_entropy_with_logits(logits[b, i, k - 1], target))
    expected = torch.stack(terms).mean()
    torch.testing.assert_close(model.next_action_loss(states, mask, actions), expected)


def test_aux_loss_only_in_training_and_off_at_weight_zero(fmap):
    batch = fmap.encode(_frame(32, 2))
    batch.pop("click"), batch.pop("conversion")
    model = _model(fmap)
    assert set(model.train().outputs(batch).aux) == {"next_action"}
    assert model.eval().outputs(batch).aux == {}
    assert _model(fmap, aux_weight=0.0).train().outputs(batch).aux == {}
    assert catalogue.resolve("zoo_dhen_multitask_no_aux")[1] is not None
    with pytest.raises(ValueError, match="aux_horizon"):
        DHENMultiTaskConfig(aux_horizon=0)


def test_both_heads_learn_and_the_next_action_loss_falls_below_chance(fmap):
    data = {"train": fmap.encode(_frame(3000, 10)), "valid": fmap.encode(_frame(800, 11))}
    model = _model(fmap, dropout=0.0, aux_weight=1.0)
    train_multitask(model, data["train"], data["valid"],
                    MultiTaskTrainConfig(lr=1e-2, batch_size=256, max_epochs=12, patience=3, seed=0))
    scores = evaluate_tasks(model, data["valid"])
    assert scores["AUC_click"] > 0.8 and scores["AUC_conversion"] > 0.8, scores
    valid = {k: v for k, v in data["valid"].items() if k not in ("click", "conversion")}
    with torch.no_grad():
        states, mask = model.eval().sequence_states(model.features(valid))
        aux = float(model.next_action_loss(states, mask, valid["history.hist_rating"][:, -states.shape[1]:]))
    # the chain's next action is 90 % predictable: entropy 0.325 nats; chance (a coin) is ln 2 = 0.693
    assert aux < 0.45, aux

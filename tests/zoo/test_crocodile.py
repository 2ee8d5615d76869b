"""Crocodile: the covariance loss is Σ_{m<m'} Σ_f ‖Cov(E^m_f, E^m'_f)‖_F² (hand computation); training with it
lowers the cross-expert covariance that a planted start (set 1 a copy of set 0) gives, against the same start
trained without it (ME-MMoE's objective), at no AUC loss; its gradient reaches the embedding sets only; expert m
reads set m only; the domain-prior gate weighs experts element by element."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.models.zoo.multidomain.crocodile import Crocodile, CrocodileConfig, cross_covariance
from mmrec.train.common import seed_everything
from mmrec.train.multitask import MultiTaskTrainConfig, evaluate_tasks, train_multitask

FIELDS = parse_fields([{"name": "user", "type": "categorical"}, {"name": "item", "type": "categorical"},
                       {"name": "dom", "type": "domain"}, {"name": "click", "type": "label"}])
SMALL = {"embed_dim": 4, "hidden_units": [16], "tower_units": [8], "dropout": 0.0, "num_embeddings": 3}


def frame(n: int, seed: int) -> pd.DataFrame:
    """click = user parity XOR item parity (a pairwise effect), 5% flipped; 2 domains."""
    rng = np.random.default_rng(seed)
    user, item = rng.integers(0, 20, n), rng.integers(0, 30, n)
    click = (user % 2) ^ (item % 2)
    flip = rng.random(n) < 0.05
    return pd.DataFrame({"user": user.astype(str), "item": item.astype(str), "dom": rng.choice(["p", "q"], n),
                         "click": np.where(flip, 1 - click, click)})


@pytest.fixture(scope="module")
def fmap():
    return FeatureMap.fit(FIELDS, frame_chunks(frame(600, 0)))


def test_the_covariance_loss_matches_a_hand_computation():
    rng = np.random.default_rng(0)
    sets = [rng.normal(size=(50, 2, 3)) for _ in range(3)]
    expected = sum(np.square(np.cov(sets[m][:, f].T, sets[n][:, f].T)[:3, 3:]).sum()
                   for m in range(3) for n in range(m + 1, 3) for f in range(2))
    got = cross_covariance([torch.tensor(s) for s in sets])
    assert float(got) == pytest.approx(expected, rel=1e-10)


def planted(fmap, cov_weight: float) -> Crocodile:
    """Every set starts as the same random table (std 0.1): maximal cross-set covariance."""
    seed_everything(0)
    model = Crocodile(CrocodileConfig(**SMALL, cov_weight=cov_weight), fmap)
    with torch.no_grad():
        model.features.table.weight.normal_(0, 0.1)
        for layer in model.extra_features:
            layer.table.weight.copy_(model.features.table.weight)
    return model


def test_the_covariance_loss_lowers_cross_expert_covariance_without_losing_auc(fmap):
    train, valid = fmap.encode(frame(2000, 1)), fmap.encode(frame(600, 2))
    config = MultiTaskTrainConfig(lr=1e-2, batch_size=256, max_epochs=4, patience=4)
    measured, scores = {}, {}
    for weight in (0.0, 10.0):
        model = planted(fmap, weight)
        train_multitask(model, train, valid, config)
        with torch.no_grad():
            measured[weight] = float(cross_covariance(model.set_embeddings(model.features.pack(valid))))
        scores[weight] = evaluate_tasks(model, valid)["AUC"]
    assert measured[10.0] < 0.3 * measured[0.0], measured
    assert scores[10.0] > 0.85 and scores[10.0] > scores[0.0] - 0.03, scores


def test_gradients_flow_as_specified(fmap):
    model = planted(fmap, 1.0).train()
    batch = model.features.pack(fmap.encode(frame(64, 3), labels=False))
    out = model.outputs(batch)
    tables = [layer.table.weight for layer in model.embedding_sets]
    cov_grads = torch.autograd.grad(out.aux["cov"], tables + list(model.experts.parameters()), allow_unused=True)
    assert all(g is not None and g.abs().sum() > 0 for g in cov_grads[:3])  # every set is pushed apart
    assert all(g is None for g in cov_grads[3:])  # the experts do not see the covariance loss
    embeddings = model.set_embeddings(batch)
    for m, expert in enumerate(model.experts):  # expert m reads set m only
        grads = torch.autograd.grad(expert(embeddings[m].flatten(1)).sum(), tables, allow_unused=True)
        assert [g is not None and bool(g.abs().sum() > 0) for g in grads] == [k == m for k in range(3)]


def test_the_domain_prior_gate_weighs_experts_element_by_element(fmap):
    model = planted(fmap, 1.0).eval()
    gate = model.gates[0]
    with torch.no_grad():
        gate.linear.weight.zero_()
        gate.linear.bias.zero_()
        gate.prior.fill_(-30.0)
        gate.prior[0, 0] = 30.0  # element 0 from expert 0, every other element from expert 2
        gate.prior[2, 1:] = 30.0
    batch = model.features.pack(fmap.encode(frame(32, 4), labels=False))
    embeddings = model.set_embeddings(batch)
    experts = torch.stack([e(x.flatten(1)) for e, x in zip(model.experts, embeddings)], 1)
    from_gate = torch.softmax(gate(embeddings[0].flatten(1)), 1)
    mixed = (from_gate * experts).sum(1)
    torch.testing.assert_close(mixed[:, 0], experts[:, 0, 0])
    torch.testing.assert_close(mixed[:, 1:], experts[:, 2, 1:])

"""CTR ranking losses: hand computations on a 4-sample batch, Combined-List's max-shift, the negative-gradient fact
(ZOO.md §2), degenerate batches, and the trainer's loss option."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from mmrec import catalogue
from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.train.common import seed_everything
from mmrec.train.fields import FieldTrainConfig, batch_loss, train_fields
from mmrec.train.ranking_loss import (RankingLossConfig, combined_list, ctr_loss, default_alpha, jrc, rcr,
                                      weighted_bce)

Z = [2.0, -1.0, 0.5, -2.0]
Y = [1.0, 0.0, 1.0, 0.0]
PW, ALPHA = 0.5, 0.6


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _bce_w() -> float:
    terms = [PW * -math.log(_sig(z)) if y else -math.log(1 - _sig(z)) for z, y in zip(Z, Y)]
    return sum(terms) / 4


def _loss(name: str, logits=None, **kw) -> float:
    logits = torch.tensor(Z, dtype=torch.float64) if logits is None else logits
    config = RankingLossConfig(name, PW, kw.pop("alpha", ALPHA), **kw)
    return float(ctr_loss(logits, torch.tensor(Y, dtype=torch.float64), config))


def test_weighted_bce_and_combined_pair_match_a_hand_computation():
    assert _loss("bce") == pytest.approx(_bce_w(), rel=1e-12)
    pairs = [(2.0, -1.0), (2.0, -2.0), (0.5, -1.0), (0.5, -2.0)]
    r = sum(-math.log(_sig(a - b)) for a, b in pairs) / 4
    assert _loss("combined_pair") == pytest.approx(ALPHA * _bce_w() + (1 - ALPHA) * r, rel=1e-12)


def test_combined_list_and_rcr_match_a_hand_computation():
    for name, score in (("combined_list", math.exp), ("rcr", _sig)):
        norm = PW * (score(2.0) + score(0.5)) + score(-1.0) + score(-2.0)
        r = -(math.log(score(2.0) / norm) + math.log(score(0.5) / norm)) / 2
        assert _loss(name) == pytest.approx(ALPHA * _bce_w() + (1 - ALPHA) * r, rel=1e-12), name


def test_jrc_matches_a_hand_computation_on_two_logits():
    pairs = [(0.3, 1.1), (0.2, -0.4), (-0.5, 0.7), (1.0, -1.0)]  # [z_neg, z_pos] per sample
    click = [p - n for n, p in pairs]
    bce = sum(PW * -math.log(_sig(c)) if y else -math.log(1 - _sig(c)) for c, y in zip(click, Y)) / 4
    col = [sum(math.exp(p[k]) for p in pairs) for k in (0, 1)]
    r = -sum((PW if y else 1.0) * math.log(math.exp(p[int(y)]) / col[int(y)]) for p, y in zip(pairs, Y)) / 4
    got = _loss("jrc", torch.tensor(pairs, dtype=torch.float64))
    assert got == pytest.approx(ALPHA * bce + (1 - ALPHA) * r, rel=1e-12)
    with pytest.raises(ValueError, match=r"\(B, 2\) logits"):
        _loss("jrc")


def test_focal_matches_a_hand_computation_and_is_bce_at_gamma_zero():
    terms = []
    for z, y in zip(Z, Y):
        pt = _sig(z) if y else 1 - _sig(z)
        terms.append((PW if y else 1.0) * (1 - pt) ** 2 * -math.log(pt))
    assert _loss("focal") == pytest.approx(sum(terms) / 4, rel=1e-12)
    assert _loss("focal", focal_gamma=0.0) == pytest.approx(_bce_w(), rel=1e-12)


def test_max_shifted_list_losses_equal_the_naive_formula_and_stay_finite_at_large_logits():
    rng = np.random.default_rng(0)
    z = torch.tensor(rng.normal(0, 3, 64))
    y = torch.tensor((rng.random(64) < 0.3).astype(float))
    pos = y > 0.5
    naive = -torch.log(z.exp()[pos] / (PW * z.exp()[pos].sum() + z.exp()[~pos].sum())).mean()
    assert float(combined_list(z, y, PW)) == pytest.approx(float(naive), rel=1e-10)
    huge = torch.tensor([1000.0, -1000.0, 999.0, -1000.0], dtype=torch.float64, requires_grad=True)
    labels = torch.tensor(Y, dtype=torch.float64)
    assert not torch.isfinite(-torch.log(huge.exp()[labels > 0.5] / huge.exp().sum()).mean())  # naive overflows
    shifted = 0.5 + math.log(PW * (1 + math.exp(-1.0)))  # log-normaliser 1000 + log(pw(1 + e^-1)) minus mean z_P
    assert float(combined_list(huge.detach(), labels, PW)) == pytest.approx(shifted, rel=1e-12)
    for fn in (combined_list, rcr):
        value = fn(huge, labels, PW)
        (grad,) = torch.autograd.grad(value, huge)
        assert torch.isfinite(value) and torch.isfinite(grad).all(), fn.__name__


def test_combined_pair_pushes_negatives_harder_than_bce_when_their_p_is_small():
    """ZOO.md's key fact: BCE's gradient on a negative is p / B, which vanishes as p -> 0; the pair term's is
    σ(z_j − z_i), relative to the positives, so it stays large when positives are predicted low too."""
    rng = np.random.default_rng(1)
    labels = torch.tensor([1.0] * 10 + [0.0] * 90, dtype=torch.float64)
    logits = torch.tensor(np.r_[rng.normal(-3, 0.5, 10), rng.normal(-5, 0.5, 90)], requires_grad=True)
    grads = {}
    for name in ("bce", "combined_pair"):
        (g,) = torch.autograd.grad(ctr_loss(logits, labels, RankingLossConfig(name, pos_weight=0.1)), logits)
        grads[name] = float(g[labels == 0].abs().mean())
    assert torch.sigmoid(logits[labels == 0]).max() < 0.05
    assert grads["combined_pair"] > 3 * grads["bce"], grads


@pytest.mark.parametrize("name", ["combined_pair", "combined_list", "rcr"])
def test_a_batch_of_one_class_gives_a_defined_value(name):
    """No positive: R = 0 for all three, so L = α·BCE_w; no negative: pair R = 0, list / rcr stay finite."""
    z = torch.tensor(Z, dtype=torch.float64)
    for labels in (torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)):
        value = ctr_loss(z, labels, RankingLossConfig(name, PW, ALPHA))
        assert torch.isfinite(value)
        if name == "combined_pair" or labels.sum() == 0:
            assert float(value) == pytest.approx(ALPHA * float(weighted_bce(z, labels, PW)), rel=1e-12)


def test_default_alpha_follows_the_zoo_table_and_bad_options_are_refused():
    assert [default_alpha(pw) for pw in (0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 0.15001)] == [0.7, 0.6, 0.8, 0.7, 0.9, 0.9,
                                                                                     0.6]
    for bad in ({"loss": "pairwise"}, {"pos_weight": 0.0}, {"alpha": 1.5}):
        with pytest.raises(ValueError):
            RankingLossConfig(**bad)
        with pytest.raises(ValueError):
            FieldTrainConfig(**bad)
    assert float(jrc(torch.zeros(3, 2), torch.tensor([1.0, 0.0, 0.0]))) == pytest.approx(
        (math.log(3) + 2 * math.log(3)) / 3)


def test_the_trainer_uses_the_configured_loss_and_keeps_plain_bce_as_the_model_loss():
    fields = parse_fields([{"name": "a", "type": "categorical"}, {"name": "click", "type": "label"}])
    rng = np.random.default_rng(0)
    a = rng.integers(0, 10, 3000)
    frame = pd.DataFrame({"a": a, "click": (rng.random(3000) < np.where(a < 3, 0.6, 0.05)).astype(int)})
    fmap = FeatureMap.fit(fields, frame_chunks(frame))
    data = fmap.encode(frame)
    spec = catalogue.lookup("zoo_dnn")
    seed_everything(0)
    model = spec.model_class(spec.config_class(embed_dim=4, hidden_units=[8], embedding_regularizer=1e-3), fmap)
    logits, labels = torch.randn(16), torch.tensor([1.0, 0.0] * 8)
    plain = batch_loss(model, logits, labels, RankingLossConfig())
    assert torch.equal(plain["loss"], model.loss(logits, labels)["loss"])
    pair = batch_loss(model, logits, labels, RankingLossConfig("combined_pair", 0.1))
    reg = 1e-3 * model.features.regularization()
    assert torch.allclose(pair["loss"], ctr_loss(logits, labels, RankingLossConfig("combined_pair", 0.1)) + reg)
    assert torch.equal(pair["bce"], plain["bce"])
    result = train_fields(model, data, data, FieldTrainConfig(lr=0.02, batch_size=256, max_epochs=4, patience=4,
                                                               loss="combined_pair", pos_weight=0.1))
    assert result.best_valid["AUC"] > 0.75
    with pytest.raises(ValueError, match="needs a model whose forward returns"):
        train_fields(model, data, data, FieldTrainConfig(max_epochs=1, loss="jrc"))

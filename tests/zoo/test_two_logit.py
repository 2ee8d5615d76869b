"""The two-logit head: every zoo model can score [z_neg, z_pos]; a fresh head changes no score; the click
probability is σ(z_pos − z_neg); training with the JRC loss runs, lowers the loss and learns the shift; a saved
two-logit model loads back and predicts identically."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mmrec import catalogue
from mmrec.eval.ctr_metrics import auc
from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.hub import load_model
from mmrec.models.zoo.dcnv2 import DCNv2, DCNv2Config
from mmrec.models.zoo.history import HistoryConfig
from mmrec.train.common import seed_everything
from mmrec.train.fields import FieldTrainConfig, evaluate, train_fields

# every zoo ranker that builds on flat fields alone (behaviour-sequence models need a history, multi-domain models
# a domain field, the stage-1 ID model user / item fields: tests/zoo/test_zoo.py round-trips those on its fixture)
ZOO = {spec.name: spec for spec in catalogue.rows("fields") if not issubclass(spec.config_class, HistoryConfig)
       and "domain_field" not in spec.config_class.__dataclass_fields__ and spec.name != "zoo_id_pretrain"}
FIELDS = parse_fields([{"name": "a", "type": "categorical"}, {"name": "b", "type": "categorical"},
                       {"name": "c", "type": "categorical"}, {"name": "click", "type": "label"}])
SIGNS = np.random.default_rng(3).choice([-1.0, 1.0], size=(3, 12))


def _planted(n: int, seed: int) -> pd.DataFrame:
    """logit = 2 s_a + 2 s_a s_b (+ noise from c): main and pairwise effects a CTR model learns quickly."""
    rng = np.random.default_rng(seed)
    a, b, c = (rng.integers(0, 12, n) for _ in range(3))
    p = 1 / (1 + np.exp(-(2 * SIGNS[0, a] + 2 * SIGNS[0, a] * SIGNS[1, b] - 1.5)))
    return pd.DataFrame({"a": a, "b": b, "c": c, "click": (rng.random(n) < p).astype(int)})


@pytest.fixture(scope="module")
def fmap():
    return FeatureMap.fit(FIELDS, frame_chunks(_planted(2000, 0)))


def _small(spec, **kw):
    fields = spec.config_class.__dataclass_fields__
    return spec.config_class(embed_dim=4, **({"hidden_units": [8]} if "hidden_units" in fields else {}), **kw)


@pytest.mark.parametrize("name", list(ZOO))
def test_a_fresh_two_logit_head_scores_as_the_one_logit_model(name, fmap):
    spec = ZOO[name]
    data = fmap.encode(_planted(64, 1), labels=False)
    scores = {}
    for two in (False, True):
        seed_everything(0)
        model = spec.model_class(_small(spec, two_logit=two), fmap).eval()
        scores[two] = model(data)
    assert scores[False].shape == (64,) and scores[True].shape == (64, 2)
    torch.testing.assert_close(scores[True][:, 1] - scores[True][:, 0], scores[False], rtol=0, atol=0)


@pytest.mark.parametrize("name", list(ZOO))
def test_the_two_logit_head_reuses_the_forwards_feature_pass(name, fmap):
    """The head reads the embeddings the forward computed: the feature layer runs as often as without the head
    (once for LR, whose forward reads only the first-order weights)."""
    spec = ZOO[name]
    data = fmap.encode(_planted(16, 1), labels=False)
    calls = {}
    for two in (False, True):
        model = spec.model_class(_small(spec, two_logit=two), fmap).eval()
        count = [0]
        model.features.register_forward_hook(lambda *_: count.__setitem__(0, count[0] + 1))
        model(data)
        calls[two] = count[0]
    assert calls[True] == max(calls[False], 1)


def test_jrc_trains_a_two_logit_dcnv2_and_its_probability_is_the_softmax_of_the_two(fmap, tmp_path):
    train, valid = fmap.encode(_planted(3000, 2)), fmap.encode(_planted(1000, 3))
    seed_everything(0)
    model = DCNv2(DCNv2Config(embed_dim=4, hidden_units=[16], cross_layers=1, dropout=0.0, two_logit=True), fmap)
    result = train_fields(model, train, valid, FieldTrainConfig(lr=1e-2, batch_size=256, max_epochs=6, patience=6,
                                                                loss="jrc", alpha=0.4))
    # measured: train BCE 0.518 -> 0.328, valid AUC 0.807 -> 0.841
    assert result.history[-1]["train_bce"] < 0.7 * result.history[0]["train_bce"]
    assert result.best_valid["AUC"] > 0.82
    inputs = {k: v for k, v in valid.items() if k != "click"}
    two = model(model.features.pack(inputs)).detach()
    shift = two[:, 0]
    assert shift.std() > 1e-3  # the JRC term moved the free shift: z_neg is a learned, per-sample logit
    np.testing.assert_allclose(model.predict(inputs), torch.softmax(two, 1)[:, 1].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(inputs), torch.sigmoid(two[:, 1] - two[:, 0]).numpy(), rtol=1e-6)
    assert evaluate(model, valid)["AUC"] == pytest.approx(auc(valid["click"].numpy(), model.predict(inputs)))
    model.save_pretrained(tmp_path / "jrc")
    loaded = load_model(tmp_path / "jrc")
    assert loaded.config.two_logit and loaded.two_logit_head is not None
    rows = _planted(30, 4).drop(columns="click").to_dict(orient="records")
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))


def test_jrc_without_a_two_logit_head_says_what_is_missing(fmap):
    train = fmap.encode(_planted(300, 5))
    model = DCNv2(DCNv2Config(embed_dim=4, hidden_units=[8]), fmap)
    with pytest.raises(ValueError, match=r"needs a model whose forward returns \(B, 2\)"):
        train_fields(model, train, train, FieldTrainConfig(max_epochs=1, loss="jrc"))

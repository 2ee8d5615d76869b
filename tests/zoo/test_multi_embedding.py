"""Multi-Embedding: at M = 1 ME-DCNv2 / ME-DNN are the stacked DCNv2 / the DNN (copied weights, equal outputs);
h is the mean over sets (two identical sets score as one); the sets are not tied (independent init, different
gradients, all of them trained); bad settings are refused by name; a saved model loads back exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mmrec import catalogue
from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.hub import load_model
from mmrec.models.zoo.dcnv2 import DCNv2, DCNv2Config
from mmrec.models.zoo.dnn import DNN, DNNConfig
from mmrec.models.zoo.multi_embedding import MEDCNv2, MEDNN, MEConfig
from mmrec.train.common import seed_everything

FIELDS = parse_fields([{"name": "u", "type": "categorical"}, {"name": "i", "type": "categorical"},
                       {"name": "g", "type": "multi_categorical"}, {"name": "x", "type": "numeric"},
                       {"name": "click", "type": "label"}])
SHAPE = dict(embed_dim=4, hidden_units=[12, 8], dropout=0.0)


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    u, i = rng.integers(0, 20, n), rng.integers(0, 15, n)
    return pd.DataFrame({"u": u.astype(str), "i": i.astype(str),
                         "g": ["|".join(rng.choice(list("abcd"), rng.integers(1, 3))) for _ in range(n)],
                         "x": rng.normal(size=n), "click": ((u + i) % 3 == 0).astype(int)})


@pytest.fixture(scope="module")
def fmap():
    return FeatureMap.fit(FIELDS, frame_chunks(_frame(300, 0)))


def _perturbed(model: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return model.eval()


def test_the_catalogue_lists_both_with_the_repo_defaults():
    assert catalogue.lookup("zoo_me_dcnv2").model_class is MEDCNv2
    assert catalogue.lookup("zoo_me_dnn").model_class is MEDNN
    c = MEConfig()
    assert (c.embed_dim, c.cross_layers, c.hidden_units, c.dropout) == (10, 4, [400, 400], 0.2)


@pytest.mark.parametrize("me_cls,plain", [(MEDCNv2, lambda fm: DCNv2(DCNv2Config(**SHAPE, cross_layers=4,
                                                                                 structure="stacked"), fm)),
                                          (MEDNN, lambda fm: DNN(DNNConfig(**SHAPE), fm))])
def test_one_set_is_the_plain_model(me_cls, plain, fmap):
    seed_everything(0)
    me = _perturbed(me_cls(MEConfig(**SHAPE, num_sets=1), fmap))
    base = plain(fmap).eval()
    me_tensors = list(me.state_dict().values())
    base_tensors = list(base.state_dict().values())
    assert [t.shape for t in me_tensors] == [t.shape for t in base_tensors]  # same layers in the same order
    base.load_state_dict(dict(zip(base.state_dict(), me_tensors)))
    data = fmap.encode(_frame(200, 1), labels=False)
    expected = base.predict(data)
    assert expected.std() > 0.05
    np.testing.assert_allclose(me.predict(data), expected, rtol=1e-5, atol=1e-6)


def test_h_is_the_mean_over_sets(fmap):
    """Set 1 a copy of set 0 (tables and interaction): the 2-set model scores as the 1-set model (a sum would
    double h and move the scores)."""
    seed_everything(0)
    two = _perturbed(MEDCNv2(MEConfig(**SHAPE, num_sets=2), fmap))
    one = MEDCNv2(MEConfig(**SHAPE, num_sets=1), fmap).eval()
    with torch.no_grad():
        two.extra_sets[0].load_state_dict(two.features.state_dict())
        two.interactions[1].load_state_dict(two.interactions[0].state_dict())
    one.load_state_dict({k: v for k, v in two.state_dict().items()
                         if not k.startswith(("extra_sets.", "interactions.1."))})
    data = fmap.encode(_frame(100, 2), labels=False)
    np.testing.assert_allclose(two.predict(data), one.predict(data), rtol=1e-5, atol=1e-6)


def test_sets_are_independent_and_each_gets_its_own_gradient(fmap):
    seed_everything(0)
    model = MEDCNv2(MEConfig(**SHAPE, num_sets=3), fmap)
    tables = [layer.table.weight for layer in model.embedding_sets]
    assert all(not torch.equal(tables[0], t) for t in tables[1:])
    data = fmap.encode(_frame(256, 3))
    labels = data.pop("click").float()
    model.train()
    model.loss(model(data), labels)["loss"].backward()
    grads = [t.grad.flatten() for t in tables]
    assert all(g.norm() > 0 for g in grads)
    for a in range(3):
        for b in range(a + 1, 3):
            assert torch.nn.functional.cosine_similarity(grads[a], grads[b], 0) < 0.9
    for interaction in model.interactions:
        assert interaction[0].layers[0].weight.grad.norm() > 0


def test_bad_settings_are_refused_by_name(fmap):
    with pytest.raises(ValueError, match="num_sets must be >= 1"):
        MEDNN(MEConfig(num_sets=0), fmap)
    with pytest.raises(ValueError, match="takes no embedding_regularizer"):
        MEDCNv2(MEConfig(num_sets=2, embedding_regularizer=0.05), fmap)


def test_hub_round_trip_predicts_identically(fmap, tmp_path):
    seed_everything(0)
    model = _perturbed(MEDCNv2(MEConfig(**SHAPE, num_sets=3, cross_layers=2), fmap))
    rows = _frame(40, 4).drop(columns="click").to_dict(orient="records")
    before = model.predict(rows)
    model.save_pretrained(tmp_path / "me")
    loaded = load_model(tmp_path / "me")
    assert type(loaded) is MEDCNv2 and loaded.config == model.config and len(loaded.extra_sets) == 2
    np.testing.assert_array_equal(loaded.predict(rows), before)

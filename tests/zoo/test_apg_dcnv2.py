"""APG-DCNv2: with the hypernet pinned to S(z) = I and a fixed bias it is exactly the static DCNv2 whose hidden
weights are U V (the wrapper touches only the MLP); merged U, V reproduce the unmerged outputs; bad settings are
refused by name; a saved (group-wise, two-logit) model loads back and predicts identically."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mmrec import catalogue
from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.hub import load_model
from mmrec.models.zoo.apg import APGDCNv2, APGDCNv2Config
from mmrec.models.zoo.dcnv2 import DCNv2, DCNv2Config
from mmrec.train.common import seed_everything

FIELDS = parse_fields([{"name": "u", "type": "categorical"}, {"name": "i", "type": "categorical"},
                       {"name": "x", "type": "numeric"}, {"name": "dom", "type": "domain"},
                       {"name": "click", "type": "label"}])
SHAPE = dict(embed_dim=4, hidden_units=[12, 8], cross_layers=2, dropout=0.0)


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"u": rng.integers(0, 20, n).astype(str), "i": rng.integers(0, 15, n).astype(str),
                         "x": rng.normal(size=n), "dom": rng.integers(0, 3, n), "click": rng.integers(0, 2, n)})


@pytest.fixture(scope="module")
def fmap():
    return FeatureMap.fit(FIELDS, frame_chunks(_frame(300, 0)))


def _perturbed(model: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return model.eval()


def test_the_catalogue_lists_apg_dcnv2():
    assert catalogue.lookup("zoo_apg_dcnv2").model_class is APGDCNv2
    assert catalogue.model_class("zoo_apg_dcnv2") is APGDCNv2


@pytest.mark.parametrize("structure", ["parallel", "stacked"])
def test_identity_generated_weights_make_it_the_static_dcnv2_with_u_times_v(structure, fmap):
    seed_everything(0)
    apg = _perturbed(APGDCNv2(APGDCNv2Config(**SHAPE, structure=structure, rank_k=4, overparam_p=16), fmap))
    static = DCNv2(DCNv2Config(**SHAPE, structure=structure), fmap).eval()
    biases = []
    with torch.no_grad():
        for layer in apg.tower.layers:  # hypernet output pinned to [b; vec I_K] whatever z is
            last = layer.hypernet[-1]
            bias = torch.randn(layer.output_dim)
            last.weight.zero_()
            last.bias.copy_(torch.cat([bias, torch.eye(layer.rank_k).flatten()]))
            biases.append(bias)
        static.features.load_state_dict(apg.features.state_dict())
        static.cross.load_state_dict(apg.cross.state_dict())
        static.head.load_state_dict(apg.head.state_dict())
        linears = [m for m in static.tower if isinstance(m, torch.nn.Linear)]
        norms = [m for m in static.tower if isinstance(m, torch.nn.BatchNorm1d)]
        for layer, post, linear, norm, bias in zip(apg.tower.layers, apg.tower.post, linears, norms, biases):
            u, v = layer.factors()
            linear.weight.copy_((u @ v).T)
            linear.bias.copy_(bias)
            norm.load_state_dict(post[0].state_dict())
    data = fmap.encode(_frame(200, 1), labels=False)
    expected = static.predict(data)
    assert expected.std() > 0.05
    np.testing.assert_allclose(apg.predict(data), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["self", "group"])
def test_merged_factors_reproduce_the_unmerged_outputs(mode, fmap):
    seed_everything(0)
    config = APGDCNv2Config(**SHAPE, rank_k=4, overparam_p=16, condition_mode=mode,
                            condition_fields=["dom"] if mode == "group" else [])
    model = _perturbed(APGDCNv2(config, fmap))
    data = fmap.encode(_frame(200, 2), labels=False)
    before = model.predict(data)
    model.merge()
    assert all(layer.merged for layer in model.tower.layers) and model.config.overparam_p == 0
    np.testing.assert_allclose(model.predict(data), before, rtol=1e-5, atol=1e-7)


def test_a_bad_structure_or_condition_is_refused_by_name(fmap):
    with pytest.raises(ValueError, match="structure 'wide' is not 'parallel' or 'stacked'"):
        APGDCNv2(APGDCNv2Config(**SHAPE, structure="wide"), fmap)
    with pytest.raises(ValueError, match="condition field 'domain' is not a flat field"):
        APGDCNv2(APGDCNv2Config(**SHAPE, condition_mode="group", condition_fields=["domain"]), fmap)


def test_hub_round_trip_predicts_identically(fmap, tmp_path):
    seed_everything(0)
    model = _perturbed(APGDCNv2(APGDCNv2Config(**SHAPE, condition_mode="group", condition_fields=["dom"],
                                               two_logit=True), fmap))
    rows = _frame(40, 4).drop(columns="click").to_dict(orient="records")
    before = model.predict(rows)
    model.save_pretrained(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is APGDCNv2 and loaded.config == model.config
    np.testing.assert_array_equal(loaded.predict(rows), before)

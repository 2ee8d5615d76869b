"""DHEN: a layer is LayerNorm(ensemble + shortcut) (zeroed modules leave LayerNorm(X)); the dot module sees only
dot products (rotation-invariant); every module keeps the (m, d) shape so any set stacks; the backbone stands
alone; DHEN {DCN, dot} learns a planted pairwise effect; bad settings are refused by name; Hub round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mmrec import catalogue
from mmrec.eval.ctr_metrics import auc
from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.hub import load_model
from mmrec.models.zoo.dhen import DHEN, MODULES, DHENBackbone, DHENBackboneConfig, DHENConfig, DHENLayer, DotProducts
from mmrec.train.common import seed_everything
from mmrec.train.fields import FieldTrainConfig, evaluate, train_fields

FIELDS = parse_fields([{"name": "a", "type": "categorical"}, {"name": "b", "type": "categorical"},
                       {"name": "c", "type": "categorical"}, {"name": "click", "type": "label"}])
SIGNS = np.stack([np.random.default_rng(k).permutation([-1.0, 1.0] * 5) for k in (7, 8)])


def _planted(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Clicks from the product of two per-value signs (no main effect), c is noise."""
    rng = np.random.default_rng(seed)
    a, b, c = (rng.integers(0, 10, n) for _ in range(3))
    p = 1 / (1 + np.exp(-3.0 * SIGNS[0, a] * SIGNS[1, b]))
    return pd.DataFrame({"a": a, "b": b, "c": c, "click": (rng.random(n) < p).astype(int)}), p


@pytest.fixture(scope="module")
def fmap():
    return FeatureMap.fit(FIELDS, frame_chunks(_planted(2000, 0)[0]))


def test_the_catalogue_lists_dhen_with_the_claims_default():
    assert catalogue.lookup("zoo_dhen").model_class is DHEN
    c = DHENConfig()
    assert (c.modules, c.layers, c.ensemble, c.shortcut) == (["dcn", "dot"], 2, "concat", "identity")


@pytest.mark.parametrize("ensemble", ["concat", "sum"])
def test_every_module_set_keeps_the_shape_and_a_layer_is_layernorm_of_ensemble_plus_shortcut(ensemble):
    torch.manual_seed(0)
    m, d = 5, 4
    x = torch.randn(7, m, d)
    layer = DHENLayer(m, d, list(MODULES), ensemble, "identity", attention_heads=2)
    for block in layer.blocks:
        assert block(x).shape == x.shape
    out = layer(x)
    assert out.shape == x.shape
    flat = out.flatten(1)
    torch.testing.assert_close(flat.mean(1), torch.zeros(7), atol=1e-5, rtol=0)  # normalised over the layer
    with torch.no_grad():  # modules silenced: what is left is LayerNorm(shortcut(X)) = LayerNorm(X)
        if layer.project is not None:
            layer.project.weight.zero_()
            layer.project.bias.zero_()
        else:
            for block in layer.blocks:
                for p in block.parameters():
                    p.zero_()
    torch.testing.assert_close(layer(x), torch.nn.functional.layer_norm(x, (m, d)))


def test_the_dot_module_reads_only_dot_products():
    torch.manual_seed(0)
    dots = DotProducts(4, 6)
    x = torch.randn(3, 4, 6)
    q, _ = torch.linalg.qr(torch.randn(6, 6))  # a rotation of the embedding space keeps every <x_i, x_j>
    torch.testing.assert_close(dots(x @ q), dots(x), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(dots(x * torch.tensor([2.0, 1, 1, 1, 1, 1])), dots(x))


def test_the_backbone_stands_alone_under_another_head():
    torch.manual_seed(0)
    backbone = DHENBackbone(4, 3, DHENBackboneConfig(modules=["transformer", "conv"], layers=3, shortcut="linear"))
    out = backbone(torch.randn(8, 4, 3))
    assert out.shape == (8, backbone.output_dim) == (8, 12)
    assert len(backbone.layers) == 3 and backbone.layers[0].shortcut is not None


def test_dhen_learns_a_planted_pairwise_effect(fmap):
    (train, _), (valid, truth) = _planted(4000, 1), _planted(2000, 2)
    data = {"train": fmap.encode(train), "valid": fmap.encode(valid)}
    seed_everything(0)
    model = DHEN(DHENConfig(embed_dim=4, hidden_units=[16], dropout=0.0), fmap)
    train_fields(model, data["train"], data["valid"], FieldTrainConfig(lr=1e-2, batch_size=256, max_epochs=8,
                                                                       patience=3))
    oracle = auc(valid.click.to_numpy(), truth)
    assert evaluate(model, data["valid"])["AUC"] > oracle - 0.02, oracle  # measured 0.904 against 0.906


def test_bad_settings_are_refused_by_name(fmap):
    with pytest.raises(ValueError, match="DHEN module 'gru' is not one of mlp, dcn, transformer, dot, conv"):
        DHEN(DHENConfig(modules=["dcn", "gru"]), fmap)
    with pytest.raises(ValueError, match="DHEN ensemble 'max' is not one of concat, sum"):
        DHEN(DHENConfig(ensemble="max"), fmap)


def test_hub_round_trip_predicts_identically(fmap, tmp_path):
    seed_everything(0)
    model = DHEN(DHENConfig(embed_dim=4, hidden_units=[8], modules=list(MODULES), attention_heads=2,
                            shortcut="linear"), fmap)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    rows = _planted(40, 3)[0].drop(columns="click").to_dict(orient="records")
    before = model.predict(rows)
    model.save_pretrained(tmp_path / "dhen")
    loaded = load_model(tmp_path / "dhen")
    assert type(loaded) is DHEN and loaded.config == model.config
    np.testing.assert_array_equal(loaded.predict(rows), before)

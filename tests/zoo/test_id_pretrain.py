"""Two-stage ID pre-training: stage 1's in-batch softmax loss falls over several epochs and its validation loss
does not turn up (no overfitting) on a planted user-cluster / item-cluster set; stage 2's initialisation copies
the ID rows exactly into every embedding set of a ranker and nothing else; mismatches are refused by name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.hub import load_model
from mmrec.models.zoo.dnn import DNN, DNNConfig
from mmrec.models.zoo.id_pretrain import IDDotProduct, IDPretrainConfig, init_ranker_from
from mmrec.models.zoo.multidomain.me_mmoe import MEMMoE, MEMMoEConfig
from mmrec.train.common import seed_everything
from mmrec.train.id_pretrain import IDPretrainTrainConfig, in_batch_validation, train_id_pretrain

FIELDS = parse_fields([{"name": "user", "type": "categorical"}, {"name": "item", "type": "categorical"},
                       {"name": "dom", "type": "domain"}, {"name": "click", "type": "label"}])


def frame(n: int, seed: int) -> pd.DataFrame:
    """200 users and 300 items in 10 clusters each; a click is an item of the user's cluster (90%) or random."""
    rng = np.random.default_rng(seed)
    user = rng.integers(0, 200, n)
    own = (user % 10) + 10 * rng.integers(0, 30, n)
    item = np.where(rng.random(n) < 0.9, own, rng.integers(0, 300, n))
    return pd.DataFrame({"user": user.astype(str), "item": item.astype(str), "dom": rng.choice(["p", "q"], n),
                         "click": (rng.random(n) < 0.8).astype(int)})


@pytest.fixture(scope="module")
def fmap():
    return FeatureMap.fit(FIELDS, frame_chunks(frame(20000, 0)))


def test_stage1_loss_falls_and_its_validation_does_not_overfit(fmap):
    train, valid = fmap.encode(frame(10000, 0)), fmap.encode(frame(3000, 1))
    seed_everything(0)
    model = IDDotProduct(IDPretrainConfig(embed_dim=8), fmap)
    config = IDPretrainTrainConfig(lr=3e-3, batch_size=512, epochs=6, keep_best=False)
    result = train_id_pretrain(model, train, valid, config)
    loss = [h["train_loss"] for h in result.history]
    val = [h["InBatchLoss"] for h in result.history]
    chance = float(np.log(512))
    assert loss[-1] < loss[0] - 0.5 and val[-1] < chance - 1.0, (loss, val)
    assert all(b <= a + 0.02 for a, b in zip(val, val[1:])), val  # no epoch turns the validation loss up
    held_out = {k: v for k, v in model.features.pack({k: v for k, v in valid.items() if k != "click"}).items()}
    keep = (valid["click"] > 0).nonzero().squeeze(1)
    again = in_batch_validation(model, {k: v[keep] for k, v in held_out.items()}, 512)
    assert again == pytest.approx(val[-1], rel=1e-6)


def test_initialisation_copies_the_id_rows_exactly_and_nothing_else(fmap):
    seed_everything(0)
    stage1 = IDDotProduct(IDPretrainConfig(embed_dim=4), fmap)
    with torch.no_grad():
        stage1.features.table.weight.normal_()
    for ranker in (DNN(DNNConfig(embed_dim=4, hidden_units=[8]), fmap),
                   MEMMoE(MEMMoEConfig(embed_dim=4, hidden_units=[8], num_embeddings=3), fmap)):
        before = {k: v.clone() for k, v in ranker.state_dict().items()}
        assert init_ranker_from(ranker, stage1) == ["user", "item"]
        layers = [m for m in ranker.modules() if m.__class__.__name__ == "FeatureLayer"]
        assert len(layers) == (1 if isinstance(ranker, DNN) else 3)
        for layer in layers:
            for name in ("user", "item"):
                assert torch.equal(layer.field_table(name), stage1.features.field_table(name))
            dom = layer.field_table("dom")
            assert not torch.equal(dom, stage1.features.field_table("dom"))
        changed = {k for k, v in ranker.state_dict().items() if not torch.equal(v, before[k])}
        assert changed == {k for k in before if k.endswith("table.weight") and "linear" not in k}


def test_mismatches_are_refused_and_stage1_round_trips(fmap, tmp_path):
    stage1 = IDDotProduct(IDPretrainConfig(embed_dim=4), fmap)
    with pytest.raises(ValueError, match="embed_dim 8 differs from stage 1's 4"):
        init_ranker_from(DNN(DNNConfig(embed_dim=8, hidden_units=[8]), fmap), stage1)
    other = FeatureMap.fit(FIELDS, frame_chunks(frame(500, 3)))
    with pytest.raises(ValueError, match="field 'user': the ranker's vocabulary differs"):
        init_ranker_from(DNN(DNNConfig(embed_dim=4, hidden_units=[8]), other), stage1)
    with pytest.raises(ValueError, match="ID field 'who' is not a categorical field"):
        IDDotProduct(IDPretrainConfig(user_field="who"), fmap)
    with torch.no_grad():
        stage1.features.table.weight.normal_()
    rows = frame(20, 4).drop(columns="click").to_dict(orient="records")
    stage1.save_pretrained(tmp_path / "stage1")
    np.testing.assert_array_equal(load_model(tmp_path / "stage1").predict(rows), stage1.predict(rows))

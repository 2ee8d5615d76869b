"""Diff-MSIN on the feature layer: SRC keeps the signal and takes one path in training and evaluation, the
auxiliary losses of a training forward enter the loss, the ablations build, and a saved model loads exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mmrec import catalogue
from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.hub import load_model
from mmrec.train.common import seed_everything
from mmrec.train.fields import FieldTrainConfig, train_fields

FIELDS = [{"name": "user", "type": "categorical"}, {"name": "item", "type": "categorical"},
          {"name": "category", "type": "categorical"},
          {"name": "text", "type": "embedding", "source": "item"},
          {"name": "image", "type": "embedding", "source": "item"},
          {"name": "history", "type": "sequence", "max_len": 8,
           "vocabulary_of": {"hist_item": "item", "hist_category": "category"},
           "fields": [{"name": "hist_item", "type": "categorical"}, {"name": "hist_category", "type": "categorical"}]},
          {"name": "click", "type": "label"}]
N_ITEMS = 40


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    items = rng.integers(0, N_ITEMS, n)
    hist = [rng.integers(0, N_ITEMS, k) for k in rng.integers(0, 9, n)]
    return pd.DataFrame({"user": rng.integers(0, 15, n).astype(str), "item": items.astype(str),
                         "category": (items % 5).astype(str), "hist_item": ["|".join(map(str, h)) for h in hist],
                         "hist_category": ["|".join(map(str, h % 5)) for h in hist],
                         "click": [int(i % 5 in set(h % 5)) for i, h in zip(items, hist)]})


@pytest.fixture(scope="module")
def world():
    frame = _frame(600, 0)
    ids = [str(i) for i in range(N_ITEMS)]
    g = torch.Generator().manual_seed(0)
    tables = {"text": torch.randn(N_ITEMS + 1, 12, generator=g), "image": torch.randn(N_ITEMS - 9, 6, generator=g)}
    for t in tables.values():
        t[0] = 0
    fmap = FeatureMap.fit(parse_fields(FIELDS), frame_chunks(frame),
                          {"text": (ids, 12), "image": (ids[:N_ITEMS - 10], 6)})  # 10 items have no image
    return fmap, tables, frame


def _model(world, name="zoo_diff_msin", **params):
    fmap, tables, _ = world
    seed_everything(0)
    config = catalogue.model_config(name, {"embed_dim": 16, "hidden_units": [16], **params}, name)
    return catalogue.lookup(name).model_class(config, fmap, tables)


def _src_states(model, batch):
    """The specific experts' behaviour states (SRC's input), SRC's output and the key masks."""
    emb = model.features(model.features.pack(batch))
    _, mask = model.history.behaviours(emb)
    x = model.modality_inputs(model.features.pack(batch), emb, mask)
    clean = [expert(h) for expert, h in zip(model.specific, x.history)]
    refined, loss = model.src(clean, x.key_masks)
    return clean, refined, x.key_masks, loss


def test_src_state_keeps_the_signal_at_init(world):
    """The old model's SNR test on the feature-layer model (d = 16, text + image + ID, training mode, at init):
    Σ‖H‖² / Σ‖SRC(H) - H‖² over valid positions > 10 (the noise-injecting chain gave 0.0005)."""
    model = _model(world).train()
    batch = world[0].encode(world[2].iloc[:200], labels=False)
    with torch.no_grad():
        clean, refined, masks, loss = _src_states(model, batch)
    valid = torch.stack(masks).unsqueeze(-1).float()
    clean, refined = torch.stack(clean), torch.stack(refined)
    snr = (clean.pow(2) * valid).sum() / ((refined - clean).pow(2) * valid).sum()
    assert snr > 10, f"SRC state SNR {float(snr):.4f}"
    assert loss is not None and 0.5 < float(loss) < 2.0  # ε-MSE of a near-zero predictor on unit noise


def test_training_and_evaluation_take_the_same_src_path(world):
    """SRC's output is the same noise-free chain in train and eval mode; only training computes the ε loss."""
    model = _model(world)
    batch = world[0].encode(world[2].iloc[:100], labels=False)
    with torch.no_grad():
        _, train_states, _, eps = _src_states(model.train(), batch)
        _, eval_states, _, no_eps = _src_states(model.eval(), batch)
    assert eps is not None and no_eps is None
    for a, b in zip(train_states, eval_states):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_training_forward_adds_decoupling_and_eps_to_the_loss(world):
    fmap, _, frame = world
    data = fmap.encode(frame.iloc[:128])
    labels = data.pop("click")
    model = _model(world).train()
    out = model.loss(model(data), labels)
    expected = out["bce"] + 0.1 * out["decouple"] + 0.1 * out["eps"]
    torch.testing.assert_close(out["loss"], expected)
    out["loss"].backward()
    assert model.src.gate_logits.grad is not None and model.src.gate_logits.grad.abs().sum() > 0
    assert set(model.eval().loss(model(data), labels)) == {"loss", "bce"}  # eval forward: no auxiliary terms
    ablated = _model(world, "zoo_diff_msin_no_src").train()
    assert ablated.src is None and "eps" not in ablated.loss(ablated(data), labels)


def test_ablations_build_with_their_settings(world):
    assert _model(world, "zoo_diff_msin_no_image").items.modalities == ["text"]
    assert _model(world, "zoo_diff_msin_no_dec").config.decouple_weight == 0.0
    assert _model(world).items.modalities == ["text", "image"]
    with pytest.raises(ValueError, match="at least one content modality"):
        _model(world, modalities=[])


def test_training_lowers_the_loss_and_the_saved_model_predicts_identically(world, tmp_path):
    fmap, _, frame = world
    data = {"train": fmap.encode(frame.iloc[:500]), "valid": fmap.encode(frame.iloc[500:])}
    model = _model(world, "zoo_diff_msin_no_image")
    result = train_fields(model, data["train"], data["valid"],
                          FieldTrainConfig(lr=1e-2, batch_size=100, max_epochs=4, patience=4))
    assert result.history[-1]["train_bce"] < 0.8 * result.history[0]["train_bce"], result.history
    rows = _frame(40, 3).drop(columns="click").to_dict(orient="records")
    before = model.predict(rows)
    model.save_pretrained(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is type(model) and loaded.items.modalities == ["text"]
    np.testing.assert_array_equal(loaded.predict(rows), before)

"""The CTR loop: a short run lowers the loss, runs are reproducible, checkpoints resume."""

from __future__ import annotations

import numpy as np
import pytest

from mmrec.ctr.build import build_ctr_model
from mmrec.ctr.train import CTRTrainSettings, predict, train_ctr
from mmrec.train.common import seed_everything


def bce(labels, probs):
    p = np.clip(probs, 1e-7, 1 - 1e-7)
    return float(-(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean())


@pytest.mark.parametrize("name,sparse_min_rows", [("din", None), ("diff_msin", None), ("din", 1), ("diff_msin", 1)])
def test_short_training_lowers_the_loss(name, sparse_min_rows, tiny_spec, tiny_modalities, sample_factory):
    """Dense AdamW, and (sparse_min_rows 1) every table row-sparse under LazyAdamW: both learn."""
    make_samples = sample_factory
    train, valid = make_samples(tiny_spec, 256, 0, learnable=True), make_samples(tiny_spec, 64, 1, learnable=True)
    seed_everything(0)
    model = build_ctr_model(name, tiny_spec, tiny_modalities, {"embed_dim": 8})
    before = bce(train.label.numpy(), predict(model, train))
    result = train_ctr(model, train, valid, CTRTrainSettings(batch_size=32, lr=1e-2, max_epochs=4, patience=4,
                                                             progress=False, sparse_min_rows=sparse_min_rows))
    assert any(getattr(m, "sparse", False) for m in model.modules()) == (sparse_min_rows is not None)
    after = bce(train.label.numpy(), predict(model, train))
    assert after < before - 0.05
    assert result.best_valid_auc > 0.6 and len(result.epochs) == 4


@pytest.mark.parametrize("sparse_min_rows", [None, 1])
def test_training_is_reproducible_and_resumes(sparse_min_rows, tiny_spec, tiny_modalities, tmp_path, sample_factory):
    make_samples = sample_factory
    train, valid = make_samples(tiny_spec, 128, 0, learnable=True), make_samples(tiny_spec, 32, 1, learnable=True)

    def run(max_epochs, ckpt):
        seed_everything(0)
        model = build_ctr_model("din_mm", tiny_spec, tiny_modalities, {"embed_dim": 8})
        train_ctr(model, train, valid, CTRTrainSettings(batch_size=32, max_epochs=max_epochs, patience=5,
                                                        progress=False, sparse_min_rows=sparse_min_rows), ckpt)
        return predict(model, valid)

    full = run(3, None)
    assert np.array_equal(full, run(3, None))
    run(2, tmp_path / "ckpt")  # stop after two epochs ...
    resumed = run(3, tmp_path / "ckpt")  # ... and finish the third from the checkpoint
    np.testing.assert_allclose(resumed, full, rtol=0, atol=1e-6)

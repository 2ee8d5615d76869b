"""D-Train: phase 2 starts from exact copies of h₀ in every domain's parts; phase 3 changes only the heads (the
backbone, batch-norm statistics included, is bit-identical before and after); on planted domains whose labels
conflict (the small domain's clicks are the others' flipped), its worst-domain AUC beats joint training with one
head by a margin (0.946 against 0.854 at seed 0; joint falls to 0.04-0.53 at seeds 1-3, D-Train stays >= 0.94)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mmrec.eval.domain_metrics import model_domain_report
from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.models.zoo.multidomain.mmoe import MMoE, MMoEConfig
from mmrec.models.zoo.multidomain.shared_bottom import SharedBottom, SharedBottomConfig
from mmrec.train.common import seed_everything
from mmrec.train.dtrain import DTrainConfig, backbone_batch_norms, copy_domain_parts, dtrain
from mmrec.train.multitask import MultiTaskTrainConfig, train_multitask

FIELDS = parse_fields([{"name": "user", "type": "categorical"}, {"name": "item", "type": "categorical"},
                       {"name": "dom", "type": "domain"}, {"name": "click", "type": "label"}])
SMALL = {"embed_dim": 4, "hidden_units": [16], "tower_units": [], "dropout": 0.0}
TRAIN = {"lr": 1e-2, "batch_size": 256, "max_epochs": 5, "patience": 2}


def frame(n: int, seed: int) -> pd.DataFrame:
    """click = the item's fixed sign, flipped in the small domain "s" (4% of events), 5% noise."""
    rng = np.random.default_rng(seed)
    user, item = rng.integers(0, 20, n), rng.integers(0, 60, n)
    dom = rng.choice(["a", "b", "s"], n, p=[0.48, 0.48, 0.04])
    click = np.random.default_rng(99).permutation([0, 1] * 30)[item]
    click = np.where(dom == "s", 1 - click, click)
    return pd.DataFrame({"user": user.astype(str), "item": item.astype(str), "dom": dom,
                         "click": np.where(rng.random(n) < 0.05, 1 - click, click)})


@pytest.fixture(scope="module")
def data():
    train = frame(4000, 1)
    fmap = FeatureMap.fit(FIELDS, frame_chunks(train))
    return fmap, fmap.encode(train), fmap.encode(frame(2000, 2))


def test_copy_makes_every_domain_part_an_exact_copy(data):
    fmap = data[0]
    seed_everything(0)
    model = MMoE(MMoEConfig(**SMALL), fmap)
    copy_domain_parts(model, 0)
    for parts in model.domain_parts():
        for part in parts[1:]:
            for a, b in zip(parts[0].state_dict().values(), part.state_dict().values()):
                assert torch.equal(a, b)


def test_the_fine_tuning_phase_leaves_the_backbone_untouched(data):
    fmap, train, valid = data
    seed_everything(0)
    model = SharedBottom(SharedBottomConfig(**{**SMALL, "tower_units": [8]}, batch_norm=True), fmap)
    head_keys = {f"towers.{k}" for k in model.towers.state_dict()}
    snapshots = {}

    def snapshot(_phase):
        snapshots[_phase] = {k: v.clone() for k, v in model.state_dict().items() if k not in head_keys}
    config = MultiTaskTrainConfig(**{**TRAIN, "max_epochs": 2})
    result = dtrain(model, train, valid, DTrainConfig(config, config, config), on_phase=snapshot)
    assert set(result.fine_tune) == {"a", "b", "s"} and backbone_batch_norms(model)
    after = {k: v for k, v in model.state_dict().items() if k not in head_keys}
    assert all(torch.equal(after[k], snapshots["fine_tune"][k]) for k in after)
    assert all(p.requires_grad for p in model.parameters())  # the freeze is undone


def test_worst_domain_auc_beats_joint_training_when_domains_conflict(data):
    fmap, train, valid = data
    config = MultiTaskTrainConfig(**TRAIN)
    seed_everything(0)
    joint = SharedBottom(SharedBottomConfig(**SMALL), fmap)
    joint.forced_domain = 0  # one head for every domain: joint training
    train_multitask(joint, train, valid, config)
    seed_everything(0)
    staged = SharedBottom(SharedBottomConfig(**SMALL), fmap)
    dtrain(staged, train, valid, DTrainConfig(config, config, config))
    worst = {"joint": model_domain_report(joint, valid)["worst"], "dtrain": model_domain_report(staged, valid)["worst"]}
    assert worst["joint"]["AUC_domain"] == "s"
    assert worst["dtrain"]["AUC"] > 0.9 and worst["dtrain"]["AUC"] > worst["joint"]["AUC"] + 0.05, worst

"""DPN: retrieval returns the planted windows (padding flagged), denoising pre-training lowers its loss, and on
clicks that need a motif (A right before B, then candidate C) DPN beats DIN."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mmrec import catalogue
from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.models.zoo.dpn import DPN, DPNConfig
from mmrec.train.common import seed_everything
from mmrec.train.fields import FieldTrainConfig, evaluate, train_fields
from mmrec.train.pattern_pretrain import pretrain_patterns, train_dpn

MAX_LEN = 10
FIELDS = [{"name": "user", "type": "categorical"}, {"name": "item", "type": "categorical"},
          {"name": "category", "type": "categorical"},
          {"name": "history", "type": "sequence", "max_len": MAX_LEN,
           "vocabulary_of": {"hist_item": "item", "hist_category": "category"},
           "fields": [{"name": "hist_item", "type": "categorical"}, {"name": "hist_category", "type": "categorical"}]},
          {"name": "click", "type": "label"}]
MOTIFS = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (9, 10, 11)]  # (A, B, C): C is clicked after A right before B
FILLER = np.arange(12, 40)


def _motif_frame(n: int, seed: int) -> pd.DataFrame:
    """Every history holds its target motif's A and B; a click iff A comes right before B. Half the rows put A
    right after B or with a filler between, so the bag of behaviours (DIN's view) is the same for both labels."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        a, b, c = MOTIFS[rng.integers(len(MOTIFS))]
        hist = list(rng.choice(FILLER, MAX_LEN - 2, replace=False))
        click = int(rng.random() < 0.5)
        at = rng.integers(0, MAX_LEN - 2)
        pair = [a, b] if click else ([b, a] if rng.random() < 0.5 else [a, int(rng.choice(FILLER)), b])
        hist = (hist[:at] + pair + hist[at:])[-MAX_LEN:]
        rows.append({"user": str(rng.integers(0, 50)), "item": str(c), "category": str(c % 5),
                     "hist_item": "|".join(map(str, hist)), "hist_category": "|".join(str(h % 5) for h in hist),
                     "click": click})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def fmap():
    frame = _motif_frame(400, 0)
    every_item = frame.iloc[[0] * 40].assign(item=[str(i) for i in range(40)])  # behaviours share item's vocabulary
    return FeatureMap.fit(parse_fields(FIELDS), frame_chunks(pd.concat([frame, every_item])))


def test_retrieval_returns_the_planted_windows(fmap):
    seed_everything(0)
    model = DPN(DPNConfig(embed_dim=4, model_dim=4, top_k=2, pattern_length=3, hidden_units=[8]), fmap).eval()
    with torch.no_grad():  # score = <item embedding of target, item embedding of behaviour>: one-hot items
        model.features.table.weight.zero_()
        for value in range(40):
            model.features.table.weight[model.features.offsets["item"] + fmap.entry("item").vocab.index(str(value))
                                        + 2, value % 4] = 1.0 + value / 40
        for layer in (model.retrieve_query, model.retrieve_key):
            layer.weight.zero_()
            layer.bias.zero_()
            layer.weight[:, :4] = torch.eye(4)  # the item half of [item, category]
    frame = pd.DataFrame({"user": ["1", "1"], "item": ["20", "21"], "category": ["0", "1"],
                          "hist_item": ["13|20|14|15|23|20|17|18|19|22", "21|14|15|16"],
                          "hist_category": ["0|0|0|0|0|0|0|0|0|0", "0|0|0|0"]})
    batch = fmap.encode(frame, labels=False)
    with torch.no_grad():
        emb = model.features(batch)
        behaviours, mask = model.history.behaviours(emb)
        scores = model.retrieval_scores(model.history.target(emb), behaviours, mask)
        ends, kept, positions, valid = model.retrieve(scores, mask)
    # row 0: item 20 at positions 1 and 5 (full history); row 1: 21 is the first real event (position 6 of 10)
    assert sorted(ends[0].tolist()) == [1, 5] and kept[0].all()
    windows = {int(e): p.tolist() for e, p in zip(ends[0], positions[0])}
    assert windows == {5: [3, 4, 5], 1: [0, 0, 1]} and valid[0, ends[0].tolist().index(1)].tolist() == [
        False, True, True]  # the slot before position 0 is padding
    assert ends[1, 0] == 6 and positions[1, 0].tolist() == [4, 5, 6] and valid[1, 0].tolist() == [False, False, True]


def test_denoising_pretraining_reconstructs_corrupted_behaviours(fmap):
    """Histories are runs s, s+1, ... (mod 40): a corrupted behaviour follows from its neighbours, so the
    reconstruction loss must fall well below the uniform guess ln(42) ≈ 3.7."""
    rng = np.random.default_rng(1)
    runs = [(s + np.arange(MAX_LEN)) % 40 for s in rng.integers(0, 40, 1000)]
    frame = _motif_frame(1000, 1).assign(hist_item=["|".join(map(str, r)) for r in runs])
    seed_everything(0)
    model = DPN(DPNConfig(embed_dim=8, model_dim=16, hidden_units=[16]), fmap)
    losses = pretrain_patterns(model, fmap.encode(frame), epochs=12, lr=1e-2, batch_size=64)
    assert losses[0] > 3.5 and losses[-1] < 2.4, losses


def _fit(name: str, fmap, data, seed: int = 0, **extra) -> float:
    spec = catalogue.lookup(name)
    seed_everything(seed)
    model = spec.model_class(spec.config_class(embed_dim=8, hidden_units=[32], dropout=0.0, **extra), fmap)
    trainer = train_dpn if spec.model_class is DPN else train_fields
    trainer(model, data["train"], data["valid"], FieldTrainConfig(lr=1e-2, batch_size=128, max_epochs=8, patience=2))
    return evaluate(model, data["valid"])["AUC"]


def test_dpn_finds_the_motif_where_din_cannot(fmap):
    data = {"train": fmap.encode(_motif_frame(2000, 10)), "valid": fmap.encode(_motif_frame(600, 11))}
    # the best of 3 seeds each: a small model on 2,000 rows sometimes misses the motif from one initialisation
    # (about 1 run in 10, which one moves with the CPU's kernels and thread count); DIN never sees it
    scores = {"din": max(_fit("zoo_din", fmap, data, seed) for seed in range(3)),
              "dpn": max(_fit("zoo_dpn", fmap, data, seed, model_dim=16, pretrain_epochs=2, pretrain_lr=1e-2)
                         for seed in range(3))}
    assert scores["din"] < 0.65 and scores["dpn"] > scores["din"] + 0.2, scores

"""The CTR report's embedding-analysis section on a real DeepFM / DIN: the stage-side JSON is complete and strict
JSON, a collapsed item table shows in its row, and the report renders the tables and both PNGs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mmrec.data.ctr_batches import CTRSamples, FeatureSpec, pad_histories
from mmrec.eval.embedding_report import analyse_ctr_model
from mmrec.eval.embedding_section import embedding_plots, embedding_tables
from mmrec.eval.report import _markdown
from mmrec.ctr.build import build_ctr_model
from mmrec.items.triple import TripleExpertItems

SPEC = FeatureSpec(n_users=40, n_items=60, user_field_sizes=[8, 3], n_genres=4, max_history=5)
FIELDS = ["age", "gender"]


def _samples(n: int, seed: int) -> CTRSamples:
    g = torch.Generator().manual_seed(seed)
    histories = [torch.randint(1, SPEC.n_items + 1, (int(k),), generator=g).tolist()
                 for k in torch.randint(0, 8, (n,), generator=g)]
    history, mask = pad_histories(histories, SPEC.max_history)
    user_features = torch.stack([torch.randint(1, 8, (SPEC.n_users + 1,), generator=torch.Generator().manual_seed(7)),
                                 torch.randint(1, 3, (SPEC.n_users + 1,), generator=torch.Generator().manual_seed(8))],
                                1)
    item = torch.randint(1, SPEC.n_items + 1, (n,), generator=g)
    return CTRSamples(user=torch.randint(1, SPEC.n_users + 1, (n,), generator=g), item=item, history=history,
                      history_mask=mask, label=(item % 2).float(), user_features=user_features,
                      item_genres=(torch.rand(SPEC.n_items + 1, 4, generator=g) > 0.5).float())


def _model(name: str):
    """A registry CTR model, embedding 8; ``din_te`` with a triple-expert item side (its ID table = "item")."""
    torch.manual_seed(0)
    side = None
    if name == "din_te":
        g = torch.Generator().manual_seed(3)
        n = SPEC.n_items + 1
        codes = torch.randint(0, 4, (n, 2, 2), generator=g)
        side = TripleExpertItems(torch.randint(0, 30, (n,), generator=g), torch.randn(n, 6, generator=g), 8, codes,
                                 n_bins=3)
    return build_ctr_model(name, SPEC, None, {"embed_dim": 8}, side)


@pytest.mark.parametrize("name", ["deepfm", "din", "din_te"])
def test_section_of_a_real_ctr_model(name):
    model = _model(name)
    id_table = model.item_repr.id_expert.weight if name == "din_te" else model.item_repr.weight
    with torch.no_grad():  # plant a collapse: every item vector on one line
        id_table.weight[1:] = torch.randn(SPEC.n_items, 1) * torch.randn(1, 8)
    a = analyse_ctr_model(model, _samples(500, 1), _samples(2000, 2), FIELDS, seed=0, min_domain_events=50)
    json.dumps(a, allow_nan=False)  # strict JSON: it lives in results.json
    assert {"user", "age", "gender", "item"} <= set(a["tables"])
    assert not any(k.startswith("linear") for k in a["tables"])  # DeepFM's 1-d first-order tables left out
    assert a["tables"]["item"]["table"]["information_abundance"] == pytest.approx(1.0, abs=1e-4)
    assert a["tables"]["user"]["table"]["information_abundance"] > 4  # random N(0, 0.02) init: near isotropic
    assert a["tables"]["gender"]["batch"]["rows"] == 2 and a["tables"]["gender"]["batch"]["max_rank"] == 2
    assert a["tables"]["gender"]["table"]["rows"] == 2  # the zero padding row is not counted
    assert a["correlation"]["fields"] == a["mutual_information"]["fields"]
    mi = np.array(a["mutual_information"]["matrix"])
    users = a["mutual_information"]["fields"].index("user")
    genders = a["mutual_information"]["fields"].index("gender")
    assert mi[users, genders] == pytest.approx(mi[genders, genders])  # the user ID determines the gender
    tangle = a["entanglement"]
    assert tangle["domain_field"] == "age" and len(tangle["tasks"]) >= 2
    assert np.diag(np.array(tangle["matrix"], dtype=float)) == pytest.approx(1.0)
    assert all(k.startswith("age ") for k in tangle["tasks"])

    models = {name: {"embedding_analysis": a}}
    titles = [t for t, _, _ in embedding_tables(models)]
    assert any("information abundance" in t for t in titles) and any("gradient cosine" in t for t in titles)
    item_row = next(r for r in embedding_tables(models)[0][2] if r[1] == "item")
    assert item_row[7] == "1.00"  # IA over all rows of the collapsed table
    images = embedding_plots(models)
    assert set(images) == {f"embedding_spectra_{name}.png", f"embedding_correlation_mi_{name}.png"}
    assert all(png[:4] == b"\x89PNG" for png in images.values())


def test_report_markdown_carries_the_section():
    model = _model("deepfm")
    a = analyse_ctr_model(model, _samples(300, 1), _samples(1000, 2), FIELDS, min_domain_events=50)
    report = {"dataset": "toy", "task": "ctr", "split": "ctr", "split_seed": 0, "seeds": [0],
              "protocol": "p", "cold_threshold": 5, "data": {}, "split_summary": {},
              "headline": ["AUC"], "training": {},
              "models": {"deepfm": {"overall": {"AUC": 0.7}, "warm": {}, "cold": {}, "bins": [],
                                    "embedding_analysis": a}}}
    md = _markdown(report, list(embedding_plots(report["models"])))
    assert "## Embedding analysis (model seed 0): information abundance" in md
    assert "| deepfm | item |" in md and "![embedding_spectra_deepfm.png]" in md
    assert "**information abundance (IA)**" in md
    assert _markdown({**report, "models": {"deepfm": {**report["models"]["deepfm"], "embedding_analysis": None}}},
                     []).count("Embedding analysis") == 0

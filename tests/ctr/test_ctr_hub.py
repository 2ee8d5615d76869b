"""CTR models on the Hub: by repo id from the local HF cache offline, the item side in config + safetensors, the
model card's CTR numbers, and `mmrec score` refusing a model that does not rank next items."""

from __future__ import annotations

import json

import pytest
import torch

from mmrec.hub import HubError, load_model, recommend

REPORT = {"dataset": "ml-100k", "split": "ctr", "task": "ctr", "protocol": "CTR per-user time split",
          "seeds": [0, 1], "cold_threshold": 5, "headline": ["AUC", "GAUC", "LogLoss"],
          "models": {"diff_msin_te": {
              "overall": {"AUC": {"mean": 0.7712, "std": 0.0021, "n": 2}, "GAUC": 0.69, "LogLoss": 0.57, "n": 20000},
              "warm": {"AUC": 0.775, "GAUC": 0.7, "LogLoss": 0.57, "n": 18766},
              "cold": {"AUC": {"mean": 0.7123, "std": 0.004, "n": 2}, "GAUC": 0.61, "LogLoss": 0.56, "n": 1234},
              "per_seed": [{"seed": 0, "AUC": 0.7733, "GAUC": 0.6911, "cold_AUC": 0.7163},
                           {"seed": 1, "AUC": 0.7691, "GAUC": 0.6899, "cold_AUC": 0.7083}]}}}


def test_a_triple_expert_ctr_model_loads_by_repo_id_offline(model_factory, tiny_spec, tiny_modalities, tiny_samples,
                                                             tmp_path, hf_cache):
    model = model_factory("diff_msin_te", tiny_spec, tiny_modalities).eval()
    model.save_pretrained(tmp_path / "saved")
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert config["item_repr"]["class"] == "TripleExpertItems"
    assert config["item_repr"]["tensors"] == {"content": "content_expert.content", "codes": "code_expert.codes"}
    assert config["init_args"]["spec"]["n_items"] == tiny_spec.n_items
    cache = hf_cache(tmp_path / "saved", "mmrec-test/tiny-diff-msin-te")
    loaded = load_model("mmrec-test/tiny-diff-msin-te", cache_dir=cache, local_files_only=True)
    batch = tiny_samples.batch(torch.arange(len(tiny_samples)))
    assert torch.equal(loaded.predict(batch), model.predict(batch))
    assert torch.equal(loaded.item_repr.codes, model.item_repr.codes)


def test_a_saved_ctr_model_without_codes_round_trips(item_side_factory, tiny_spec, tiny_modalities, tiny_samples,
                                                     tmp_path):
    from mmrec.ctr.build import build_ctr_model

    side = item_side_factory(tiny_spec, tiny_modalities, 8, with_codes=False)
    model = build_ctr_model("din_te", tiny_spec, tiny_modalities, {"embed_dim": 8}, side).eval()
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["item_repr"]["args"]["codes"] is None
    loaded = load_model(tmp_path)
    assert loaded.item_repr.code_expert is None
    batch = tiny_samples.batch(torch.arange(len(tiny_samples)))
    assert torch.equal(loaded.predict(batch), model.predict(batch))


def test_the_ctr_model_card_carries_auc_gauc_and_cold_numbers(model_factory, tiny_spec, tiny_modalities, tmp_path):
    model = model_factory("diff_msin_te", tiny_spec, tiny_modalities)
    model.save_pretrained(tmp_path, model_card_kwargs={"report": REPORT, "model_key": "diff_msin_te", "seed": 1})
    card = (tmp_path / "README.md").read_text()
    for text in ["- ctr", "Click-through-rate model", "model.predict(batch)",
                 "| slice | n test cases | AUC | GAUC | LogLoss |", "| overall | 20000 | 0.7712 ± 0.0021 (n=2) | 0.6900 |",
                 "| cold | 1234 | 0.7123 ± 0.0040", "test AUC 0.7691, GAUC 0.6899, cold AUC 0.7083",
                 "cold threshold: 5", "# diff_msin_te (diff_msin)", "Item side: `TripleExpertItems` with `{\"dim\": 8"]:
        assert text in card, text
    assert "sequential-recommendation" not in card and "NDCG" not in card


def test_mmrec_score_refuses_a_ctr_model(model_factory, tiny_spec, tiny_modalities):
    with pytest.raises(HubError, match="ctr model.*predict"):
        recommend(model_factory("din", tiny_spec, tiny_modalities), ["1", "2"])

"""The triple-expert item side: never-seen targets are scored from their content and codes, the gate starts
content-leaning for them, everything trains, and a recipe that asks for missing codes fails early by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mmrec.core.config import ConfigError
from mmrec.items.triple import TripleExpertItems
from mmrec.pipeline import Pipeline
from mmrec.recipe import load_recipe
from mmrec.stages import default_stages

TRIPLE = ["din_te", "din_mm_te", "diff_msin_te"]
RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "ml-100k-ctr.yaml"


def cold_batch(samples, item: int):
    """Every sample of ``samples`` with its target replaced by ``item``."""
    batch = samples.batch(torch.arange(len(samples)))
    batch.item = torch.full_like(batch.item, item)
    batch.item_genres = samples.item_genres[batch.item]
    return batch


@pytest.mark.parametrize("name", TRIPLE)
def test_a_never_seen_target_is_scored_from_its_content_and_codes(name, model_factory, tiny_spec, tiny_modalities,
                                                                  tiny_samples, never_seen_items):
    model = model_factory(name, tiny_spec, tiny_modalities).eval()
    item = never_seen_items[0]
    batch = cold_batch(tiny_samples, item)
    before = model.predict(batch)
    with torch.no_grad():  # its ID row never trained: the score must not read it
        model.item_repr.id_expert.weight.weight[item].normal_()
    assert torch.equal(model.predict(batch), before)
    with torch.no_grad():
        model.item_repr.content[item] = F.normalize(torch.randn(model.item_repr.content.shape[1]), dim=0)
    after_content = model.predict(batch)
    assert (after_content - before).abs().max() > 1e-4
    with torch.no_grad():
        model.item_repr.codes[item] = (model.item_repr.codes[item] + 1) % 4
    assert (model.predict(batch) - after_content).abs().max() > 1e-6  # code tables start small (std 0.02)


def test_an_id_only_model_scores_a_never_seen_target_from_its_untrained_id_row(model_factory, tiny_spec,
                                                                               tiny_modalities, tiny_samples,
                                                                               never_seen_items):
    model = model_factory("din", tiny_spec, tiny_modalities).eval()
    item = never_seen_items[0]
    batch = cold_batch(tiny_samples, item)
    before = model.predict(batch)
    changed = {k: (t.clone(), p) for k, (t, p) in tiny_modalities.items()}
    changed["text"][0][item] = torch.randn(changed["text"][0].shape[1])
    torch.manual_seed(0)
    assert torch.equal(model_factory("din", tiny_spec, changed).eval().predict(batch), before)  # content unseen
    with torch.no_grad():
        model.item_repr.weight.weight[item].normal_()
    assert (model.predict(batch) - before).abs().max() > 1e-4  # ... and random init is all it has


@pytest.mark.parametrize("with_codes", [True, False])
def test_the_gate_starts_content_leaning_for_never_seen_items(item_side_factory, tiny_spec, tiny_modalities,
                                                             never_seen_items, with_codes):
    side = item_side_factory(tiny_spec, tiny_modalities, 8, with_codes).eval()
    cold = side.weights(torch.tensor(never_seen_items))
    n_experts = 3 if with_codes else 2
    assert cold.shape == (len(never_seen_items), n_experts)
    assert (cold[:, 0] == 0).all()  # no weight on an ID row that never trained
    torch.testing.assert_close(cold[:, 1:], torch.full((len(never_seen_items), n_experts - 1), 1 / (n_experts - 1)))
    popular = int(side.item_counts.argmax())
    warm = side.weights(torch.tensor([popular]))[0]
    assert warm[0] > warm[1] and torch.isclose(warm.sum(), torch.tensor(1.0))
    # PAD's released start: ID logits 1 -> 0 from the most popular bin to the never-seen one, content 0 -> 1
    logits = side.gate.logits.detach()
    assert logits[0, 0] == 1 and logits[0, -1] == 0 and logits[1, 0] == 0 and logits[1, -1] == 1


@pytest.mark.parametrize("name", TRIPLE)
def test_every_parameter_gets_a_gradient(name, model_factory, item_side_factory, tiny_spec, tiny_modalities,
                                         tiny_samples):
    from mmrec.ctr.build import build_ctr_model

    torch.manual_seed(0)
    side = item_side_factory(tiny_spec, tiny_modalities, 8, cold_dropout=0.3)
    model = build_ctr_model(name, tiny_spec, tiny_modalities, {"embed_dim": 8, "dropout": 0.0}, side).train()
    batch = tiny_samples.batch(torch.arange(len(tiny_samples)))
    model.loss(model(batch), batch.label)["loss"].backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, f"parameters without gradient: {dead}"
    cold_column = model.item_repr.gate.logits.grad[:, -1]
    assert cold_column[0] == 0 and (cold_column[1:] != 0).all()  # the never-seen bin trains content and codes


def test_cold_dropout_serves_random_items_without_their_id_only_in_training(item_side_factory, tiny_spec,
                                                                           tiny_modalities, never_seen_items):
    side = item_side_factory(tiny_spec, tiny_modalities, 8, cold_dropout=0.5)
    torch.manual_seed(0)
    training = side.train().cold_items()
    assert training[never_seen_items].all() and training.sum() > len(never_seen_items) + 1
    assert side.eval().cold_items().nonzero().flatten().tolist() == list(never_seen_items)  # padding is no item


def test_the_item_side_checks_its_tables(tiny_modalities):
    counts = torch.ones(31, dtype=torch.long)
    with pytest.raises(ValueError, match="content"):
        TripleExpertItems(counts[:20], tiny_modalities["text"][0], 8)
    with pytest.raises(ValueError, match="codes"):
        TripleExpertItems(counts, tiny_modalities["text"][0], 8, codes=torch.zeros(31, 2, dtype=torch.long))


def test_codes_requested_but_not_quantized_is_a_config_error_naming_the_field():
    cfg = load_recipe(RECIPE, ["ctr.models=[din_te]", "quantize.n_codebooks=[2]"])
    with pytest.raises(ConfigError, match=r"ctr.item_side.codes: 'moc3'.*moc2"):
        Pipeline(cfg, "unused", default_stages()).plan()
    without = load_recipe(RECIPE, ["ctr.models=[din_te]", "quantize.n_codebooks=[2]", "ctr.item_side.codes=null"])
    assert "quantize" not in Pipeline(without, "unused", default_stages()).plan()
    assert "quantize" in Pipeline(load_recipe(RECIPE, ["ctr.models=[din_te]"]), "unused", default_stages()).plan()
    assert "quantize" not in Pipeline(load_recipe(RECIPE, ["ctr.models=[din]"]), "unused", default_stages()).plan()


def test_a_te_model_needs_its_item_side(tiny_spec, tiny_modalities):
    from mmrec.ctr.build import build_ctr_model

    with pytest.raises(ValueError, match="din_mm_te.*TripleExpertItems"):
        build_ctr_model("din_mm_te", tiny_spec, tiny_modalities, {"embed_dim": 8})

"""Every registered CTR model: deterministic eval, padding-invariant, Hub round trip; Diff-MSIN gradients."""

from __future__ import annotations

import json

import pytest
import torch

from mmrec import catalogue
from mmrec.ctr.build import build_ctr_model
from mmrec.hub import load_model
from mmrec.models.ctr.diff_msin import DiffMSIN, SynergyDiffusion

MODELS = catalogue.names("ctr")


@pytest.fixture
def build(model_factory):
    return model_factory


@pytest.mark.parametrize("name", MODELS)
def test_eval_is_deterministic(name, build, tiny_spec, tiny_modalities, tiny_samples):
    model = build(name, tiny_spec, tiny_modalities).eval()
    batch = tiny_samples.batch(torch.arange(len(tiny_samples)))
    first, second = model(batch).logits, model(batch).logits
    assert torch.isfinite(first).all()
    assert torch.equal(first, second)


@pytest.mark.parametrize("name", MODELS)
def test_padding_positions_do_not_change_logits(name, build, tiny_spec, tiny_modalities, tiny_samples):
    model = build(name, tiny_spec, tiny_modalities).eval()
    batch = tiny_samples.batch(torch.arange(len(tiny_samples)))
    assert (~batch.history_mask).any() and batch.history_mask.any()
    garbage = torch.randint(1, tiny_spec.n_items + 1, batch.history.shape, generator=torch.Generator().manual_seed(1))
    batch2 = tiny_samples.batch(torch.arange(len(tiny_samples)))
    batch2.history = torch.where(batch.history_mask, batch.history, garbage)
    assert not torch.equal(batch.history, batch2.history)
    torch.testing.assert_close(model(batch).logits, model(batch2).logits, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_hub_save_load_gives_identical_predictions(name, build, tiny_spec, tiny_modalities, tiny_samples, tmp_path):
    model = build(name, tiny_spec, tiny_modalities).eval()
    batch = tiny_samples.batch(torch.arange(len(tiny_samples)))
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["task"] == "ctr" and config["model_type"] in ("lr", "deepfm", "din", "diff_msin")
    assert {"config.json", "model.safetensors", "README.md"} <= {p.name for p in tmp_path.iterdir()}
    loaded = load_model(tmp_path)
    assert type(loaded) is type(model) and not loaded.training
    assert torch.equal(model.predict(batch), loaded.predict(batch))
    assert torch.equal(type(model).from_pretrained(tmp_path).predict(batch), model.predict(batch))


@pytest.mark.parametrize("overrides", [{}, {"eps_weight": 0.0}, {"modalities": ["text"]}])
def test_every_diff_msin_parameter_gets_a_gradient(overrides, build, tiny_spec, tiny_modalities, tiny_samples):
    model = build("diff_msin", tiny_spec, tiny_modalities, dropout=0.0, **overrides).train()
    batch = tiny_samples.batch(torch.arange(len(tiny_samples)))
    losses = model.loss(model(batch), batch.label)
    losses["loss"].backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, f"parameters without gradient: {dead}"
    assert ("eps" in losses) == (overrides.get("eps_weight", 0.1) > 0)


def test_diff_msin_registers_its_parts(build, tiny_spec, tiny_modalities):
    model = build("diff_msin", tiny_spec, tiny_modalities)
    names = {n.split(".")[0] for n, _ in model.named_parameters()}
    assert {"item_repr", "modalities", "specific", "common", "synergy", "src", "mixer", "target_attention",
            "fusion_gate", "id_attention", "head", "features"} <= names
    assert len(model.src.attend.pairs) == 3 * 2  # one cross-attention per ordered pair of (id, text, image)
    assert {k for k in model.state_dict() if k.startswith("modalities.image")} >= {"modalities.image.table"}


def test_diffusion_chain_keeps_only_the_low_noise_steps():
    src = SynergyDiffusion(2, 4, steps=12, inference_steps=12, start_alpha_bar=0.9)
    assert src.timesteps == [1, 0] and src.alpha_bar.min() >= 0.9  # the cosine schedule's two steps with ᾱ >= 0.9
    assert src.alpha_bar_next[-1] == 1.0 and (src.alpha_bar_next > src.alpha_bar).all()  # each step denoises
    states = [torch.randn(2, 5, 4) for _ in range(2)]
    masks = [torch.ones(2, 5, dtype=torch.bool)] * 2
    out, eps = src.eval()(states, masks)
    assert eps is None and all(torch.isfinite(o).all() for o in out)
    with pytest.raises(ValueError, match="alpha_bar"):
        SynergyDiffusion(2, 4, steps=12, inference_steps=12, start_alpha_bar=0.999)


def test_item_representation_is_swappable(tiny_spec, tiny_modalities, tiny_samples):
    from mmrec.items.base import IDEmbedding

    custom = IDEmbedding(tiny_spec.n_items, 8)
    model = build_ctr_model("diff_msin", tiny_spec, tiny_modalities, {"embed_dim": 8}, item_repr=custom)
    assert model.item_repr is custom
    assert isinstance(model, DiffMSIN)
    with pytest.raises(ValueError):
        build_ctr_model("din", tiny_spec, None, {"embed_dim": 4}, item_repr=custom)


def test_multimodal_models_require_tables(tiny_spec):
    with pytest.raises(ValueError, match="text"):
        build_ctr_model("diff_msin", tiny_spec, None)

"""Recipe loading: typed sections, overrides, and errors that name the key."""

from pathlib import Path

import pytest

from mmrec.core.config import ConfigError, parse_overrides
from mmrec.recipe import load_recipe

REPO = Path(__file__).resolve().parents[1]


def test_shipped_recipes_load():
    cfg = load_recipe(REPO / "recipes" / "ml-100k.yaml")
    assert cfg.data.dataset == "ml-100k"
    assert "description" in cfg.data.text_fields
    assert cfg.split.kinds == ["leave-one-out", "new-items", "ctr"]
    template = load_recipe(REPO / "recipes" / "template.yaml")
    assert template.split.ctr_click_threshold is None


def test_overrides_are_typed_and_nested():
    cfg = load_recipe(REPO / "recipes" / "ml-100k.yaml", ["seed=7", "eval.ks=[1,3]", "split.new_item_fraction=0.3"])
    assert cfg.seed == 7 and cfg.eval.ks == [1, 3] and cfg.split.new_item_fraction == 0.3
    assert parse_overrides(["a.b.c=1", "a.d=x"]) == {"a": {"b": {"c": 1}, "d": "x"}}


def test_unknown_key_suggests_the_closest(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key 'eval.cold_treshold'.*did you mean 'cold_threshold'"):
        load_recipe(REPO / "recipes" / "ml-100k.yaml", ["eval.cold_treshold=3"])
    recipe = tmp_path / "r.yaml"
    recipe.write_text("dta: {dataset: x}\n")
    with pytest.raises(ConfigError, match=r"r.yaml: unknown config key 'dta'; did you mean 'data'"):
        load_recipe(recipe)


@pytest.mark.parametrize(
    "override, message",
    [
        ("seed=abc", r"seed: expected an integer, got 'abc'"),
        ("eval.ks=5", r"eval.ks: expected a list"),
        ("split.kinds=[leave-one-out, newitems]", r"'newitems' is not one of .*did you mean 'new-items'"),
        ("split.new_item_fraction=1.5", r"new_item_fraction must be in \(0, 1\)"),
        ("eval.workers=0", r"eval.batch_size and eval.workers must be >= 1, got 128 and 0"),
        ("data.min_user_interactions=true", r"expected an integer, got True"),
        ("novalue", r"not of the form key=value"),
        # model names and their hyper-parameters are checked against the catalogue when the recipe loads
        ("train.models={sasrek: {}}", r"unknown model 'train.models.sasrek'; did you mean 'sasrec'"),
        ("train.models={sasrec: {n_head: 2}}", r"unknown config key 'train.models.sasrec.n_head'; did you mean 'n_heads'"),
        ("ctr.models=[din, dinn_mm]", r"unknown model 'ctr.models.dinn_mm'; did you mean 'din_mm'"),
        ("ctr.models=[sasrec]", r"unknown model 'ctr.models.sasrec'"),
        ("ctr.model_overrides={din: {atention_hidden: [8]}}",
         r"unknown config key 'ctr.model_overrides.din.atention_hidden'; did you mean 'attention_hidden'"),
        ("ctr.model_overrides={deepfm: {dropout: 0.1}}", r"ctr.model_overrides.deepfm: not one of ctr.models"),
    ],
)
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_recipe(REPO / "recipes" / "ml-100k.yaml", [override])


def test_malformed_yaml(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_recipe(recipe)


def test_pad_needs_its_anchor_among_the_trained_models(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("train: {models: {sasrec: {}}}\npad: {enabled: true, backbone: gru4rec}\n")
    with pytest.raises(ConfigError, match=r"pad.backbone 'gru4rec' must be one of train.models"):
        load_recipe(recipe)

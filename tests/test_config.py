"""Recipe loading: typed sections, overrides, and errors that name the key."""

from pathlib import Path

import pytest

from mmrec.config import ConfigError, load_recipe, parse_overrides

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
        ("data.min_user_interactions=true", r"expected an integer, got True"),
        ("novalue", r"not of the form key=value"),
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

"""Every shipped recipe loads with the typed recipe loader, and each built-in dataset it names has a source."""

from pathlib import Path

import pytest

from mmrec.recipe import load_recipe
from mmrec.data import load_tables
from mmrec.data.download import SOURCES

RECIPES = sorted((Path(__file__).resolve().parents[2] / "recipes").glob("*.yaml"))


def test_recipes_found():
    assert {"ml-100k.yaml", "ml-1m.yaml", "ml-20m.yaml", "amazon-beauty.yaml", "criteo.yaml"} <= {p.name for p in RECIPES}


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_loads(path):
    cfg = load_recipe(path)
    if cfg.fields.models:  # feature-layer CTR: the events' fields are declared
        assert cfg.features
    if cfg.data.dataset == "frappe":  # read from $MMREC_DATA by its own loader, no download
        assert cfg.fields.models
    elif not cfg.data.dataset.startswith(("/", ".")):
        assert cfg.data.dataset in SOURCES


SAMPLES = Path(__file__).parent / "samples"
SAMPLE_OF = {"ml-1m.yaml": "ml-1m", "ml-20m.yaml": "ml-20m", "amazon-beauty.yaml": "amazon-2018"}


@pytest.mark.parametrize("recipe", list(SAMPLE_OF))
def test_dataset_recipe_fits_its_loader(recipe):
    """The recipe's text fields (and, with a CTR split, its CTR user and genre fields) are columns its dataset's
    loader produces (checked on the upstream-format sample in place of the download)."""
    root = RECIPES[0].parent
    cfg = load_recipe(root / recipe, [f"data.dataset={SAMPLES / SAMPLE_OF[recipe]}", "data.image_field=null"])
    tables = load_tables(cfg.data)
    assert all(tables.items["has_text"]) or recipe == "amazon-beauty.yaml"  # one sample product lacks metadata
    assert set(cfg.data.text_fields) <= set(tables.items.column_names)
    if "ctr" in cfg.split.kinds:
        assert set(cfg.ctr.user_fields) <= set(tables.users.column_names)
        assert cfg.ctr.genre_field is None or cfg.ctr.genre_field in tables.items.column_names

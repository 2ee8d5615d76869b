"""Every shipped recipe loads with the typed recipe loader, and each built-in dataset it names has a source."""

from pathlib import Path

import pytest

from mmrec.config import load_recipe
from mmrec.data.download import SOURCES

RECIPES = sorted((Path(__file__).resolve().parents[2] / "recipes").glob("*.yaml"))


def test_recipes_found():
    assert {"ml-100k.yaml", "ml-1m.yaml", "ml-20m.yaml", "amazon-beauty.yaml", "criteo.yaml"} <= {p.name for p in RECIPES}


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_loads(path):
    cfg = load_recipe(path)
    if not cfg.data.dataset.startswith(("/", ".")):
        assert cfg.data.dataset in SOURCES

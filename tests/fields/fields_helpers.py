"""Shared by the fields tests: paths, the Frappe slice's size, and the recipe that runs the fields stage on it."""

from __future__ import annotations

from pathlib import Path

from mmrec.recipe import load_recipe

REPO = Path(__file__).resolve().parents[2]
FRAPPE_RECIPE = REPO / "recipes" / "frappe.yaml"
SLICE = {"train": 4000, "valid": 1000, "test": 1000}


def slice_recipe(folder: Path, *overrides: str):
    return load_recipe(FRAPPE_RECIPE, [f"data.dataset={folder}", "fields.models=[zoo_lr,zoo_deepfm]",
                                       "fields.train.max_epochs=1", "seeds=[0]", *overrides])

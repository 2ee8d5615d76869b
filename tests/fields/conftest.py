"""A small real slice of Frappe as a bring-your-own events folder, and a recipe that runs the fields stage on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmrec.data.frappe import load_frappe, resplit
from mmrec.recipe import load_recipe

REPO = Path(__file__).resolve().parents[2]
FRAPPE_RECIPE = REPO / "recipes" / "frappe.yaml"
SLICE = {"train": 4000, "valid": 1000, "test": 1000}


@pytest.fixture(scope="session")
def frappe_parts(data_root):
    if not (data_root / "frappe" / "x1_valid.libsvm").is_file():
        pytest.skip("frappe not found under MMREC_DATA")
    return resplit(load_frappe(data_root / "frappe"), seed=0)


@pytest.fixture
def frappe_events(frappe_parts, tmp_path) -> Path:
    """train / valid / test CSVs: the first rows of each part of the real seeded re-split."""
    folder = tmp_path / "frappe-events"
    folder.mkdir()
    for split, rows in SLICE.items():
        frappe_parts[split].iloc[:rows].to_csv(folder / f"{split}.csv", index=False)
    return folder


def slice_recipe(folder: Path, *overrides: str):
    return load_recipe(FRAPPE_RECIPE, [f"data.dataset={folder}", "fields.models=[zoo_lr,zoo_deepfm]",
                                       "fields.train.max_epochs=1", "seeds=[0]", *overrides])

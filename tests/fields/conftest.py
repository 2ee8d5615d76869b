"""A small real slice of Frappe as a bring-your-own events folder (fixtures; helpers in fields_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fields_helpers import SLICE

from mmrec.data.frappe import load_frappe, resplit


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

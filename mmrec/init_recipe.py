"""``mmrec init DIR``: a recipe for a dataset directory, written from ``recipes/template.yaml`` after looking at the
directory's columns, so a user's own data gets every stage of the product without editing field names.

What is read from the data: the item text columns (string columns that are neither IDs nor image paths), the image
column (values that are image file names), ratings or 0/1 labels on the interactions (a click threshold), and the
users table's feature columns (the CTR user fields). Everything else is the template's.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from mmrec.core.io import write_text
from mmrec.data.directory import read_table
from mmrec.data.errors import DataError
from mmrec.preflight import header

TEMPLATE = Path(__file__).resolve().parents[1] / "recipes" / "template.yaml"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp")
SAMPLE_ROWS = 1000  # rows looked at per table to tell text from numbers and image paths


def _table(root: Path, stem: str) -> pd.DataFrame | None:
    found = header(root, stem)
    if found is None:
        return None
    return read_table(found[0]).frame.head(SAMPLE_ROWS)


def _is_image_column(values: pd.Series) -> bool:
    present = values.astype(str).str.strip().str.lower()
    present = present[present != ""]
    return len(present) > 0 and bool(present.str.endswith(IMAGE_SUFFIXES).mean() > 0.5)


def _is_text_column(values: pd.Series) -> bool:
    """Words, not numbers: most non-empty values fail to parse as a number."""
    present = values.astype(str).str.strip()
    present = present[present != ""]
    return len(present) > 0 and bool(pd.to_numeric(present, errors="coerce").isna().mean() > 0.5)


def click_threshold(ratings: pd.Series) -> float | None:
    """0/1 labels: 1; ratings: 80% of the top rating (4 of 5, 8 of 10); no numbers: None (implicit)."""
    values = pd.to_numeric(ratings, errors="coerce").dropna()
    if values.empty:
        return None
    if set(values.unique()) <= {0.0, 1.0}:
        return 1.0
    return round(0.8 * float(values.max()), 2)


def infer_recipe(root: str | Path) -> tuple[dict, list[str]]:
    """(recipe as a mapping, one line per choice made from the data) for dataset directory ``root``."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DataError(root, "dataset directory not found")
    items, interactions = _table(root, "items"), _table(root, "interactions")
    if items is None or interactions is None:
        raise DataError(root / ("items.csv" if items is None else "interactions.csv"),
                        "missing: a dataset directory needs items and interactions tables (.csv or .parquet)")
    for frame, name in ((items, "items"), (interactions, "interactions")):
        if "item_id" not in frame.columns:
            raise DataError(root / f"{name}.csv", "no item_id column", column="item_id")
    recipe = yaml.safe_load(TEMPLATE.read_text())
    recipe["name"] = root.name
    data = recipe["data"]
    data.update(dataset=str(root), format="directory")
    columns = [c for c in items.columns if c != "item_id"]
    images = [c for c in columns if _is_image_column(items[c])]
    data["image_field"] = images[0] if images else None
    data["text_fields"] = [c for c in columns if c not in images and _is_text_column(items[c])]
    if not data["text_fields"]:
        raise DataError(root / "items.csv", f"no text column among {columns or 'no columns'}: the text encoder, "
                                            "PAD and the semantic IDs need item text")
    chosen = [f"text_fields: {data['text_fields']}", f"image_field: {data['image_field']}"]
    if not images:
        del recipe["encode"]["encoders"]["image"]
        recipe["ctr"]["modalities"] = ["text"]
    label = next((c for c in ("rating", "label") if c in interactions.columns), None)
    threshold = click_threshold(interactions[label]) if label else None
    recipe["split"]["ctr_click_threshold"] = threshold
    chosen.append(f"ctr_click_threshold: {threshold} ({f'{label} column' if label else 'implicit: no rating'})")
    users = _table(root, "users")
    recipe["ctr"]["user_fields"] = [c for c in users.columns if c != "user_id"] if users is not None else []
    chosen.append(f"ctr.user_fields: {recipe['ctr']['user_fields']}")
    return recipe, chosen


def write_recipe(root: str | Path, output: str | Path) -> list[str]:
    """Write the inferred recipe to ``output`` (atomically, with the choices as a header comment)."""
    recipe, chosen = infer_recipe(root)
    head = [f"# Written by `mmrec init {root}` from recipes/template.yaml (see it for every option's meaning).",
            "# From the data: " + "; ".join(chosen), f"# Run:  python -m mmrec run {output}"]
    write_text(output, "\n".join(head) + "\n" + yaml.safe_dump(recipe, sort_keys=False, width=110, default_flow_style=None))
    return chosen

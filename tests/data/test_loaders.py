"""Loaders: the real ml-100k, and bring-your-own directories (CSV / parquet, string / int IDs)."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mmrec.data import Tables, load_tables
from mmrec.data.config import DataConfig


def test_ml100k_counts(ml100k_tables):
    stats = ml100k_tables.stats()
    assert (stats["n_users"], stats["n_items"], stats["n_interactions"]) == (943, 1682, 100_000)
    assert stats["items_with_image"] == 1417 and stats["items_missing_image"] == 265
    assert stats["items_missing_text"] == 0


def test_ml100k_item_text_uses_recipe_fields(ml100k_tables, ml100k_recipe):
    toy_story = ml100k_tables.items[0]
    assert toy_story["item_id"] == "1" and toy_story["title"] == "Toy Story (1995)"
    assert toy_story["text"].startswith("Title: Toy Story (1995). Genres: Animation, Children's, Comedy.")
    assert "Director: John Lasseter" in toy_story["text"] and "Tom Hanks" in toy_story["text"]
    # items without IMDb extras still get title + genres
    no_plot = [row for row in ml100k_tables.items if not row["description"]]
    assert len(no_plot) == 1682 - 1591
    assert all(row["text"].startswith("Title: ") for row in no_plot)


def test_ml100k_image_paths_stay_inside_the_dataset(ml100k_tables, data_root):
    paths = [p for p in ml100k_tables.image_paths() if p]
    assert len(paths) == 1417
    assert all(p.startswith(str(data_root.resolve())) and p.endswith(".jpg") for p in paths)


def test_ml100k_indices_are_contiguous(ml100k_tables):
    inter = ml100k_tables.interactions.with_format("numpy")[:]
    assert inter["item_idx"].min() == 1 and inter["item_idx"].max() == 1682
    assert inter["user_idx"].min() == 1 and inter["user_idx"].max() == 943
    # u.data row 0 is "196 242 3 881250949": indices map back to the original IDs
    assert ml100k_tables.users[int(inter["user_idx"][0]) - 1]["user_id"] == "196"
    assert ml100k_tables.items[int(inter["item_idx"][0]) - 1]["item_id"] == "242"


def _write_dataset(root, fmt="csv"):
    root.mkdir(parents=True, exist_ok=True)
    (root / "img").mkdir(exist_ok=True)
    Image.new("RGB", (8, 8), (255, 0, 0)).save(root / "img" / "a.png")
    items = pd.DataFrame({"item_id": ["sku-a", "sku-b", "sku-c"], "title": ["Red mug", "Blue cup", ""],
                          "image": ["img/a.png", "img/missing.png", ""]})
    inter = pd.DataFrame({"user_id": ["u1", "u1", "u2", "u2", "u1"], "item_id": ["sku-a", "sku-b", "sku-b", "sku-c", "sku-c"],
                          "timestamp": [3, 1, 2, 5, 4], "rating": [5, 3, 4, 1, 2]})
    for name, frame in (("items", items), ("interactions", inter)):
        if fmt == "csv":
            frame.to_csv(root / f"{name}.csv", index=False)
        else:
            frame.to_parquet(root / f"{name}.parquet", index=False)
    return root


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_directory_loader(tmp_path, fmt):
    root = _write_dataset(tmp_path / "shop", fmt)
    tables = load_tables(DataConfig(dataset=str(root), text_fields=["title"], image_field="image"))
    assert tables.n_items == 3 and tables.n_users == 2 and len(tables.interactions) == 5
    assert tables.items["item_id"] == ["sku-a", "sku-b", "sku-c"]
    # missing image file and empty text are masked, not errors
    assert tables.items["has_image"] == [True, False, False]
    assert tables.items["has_text"] == [True, True, False]
    assert tables.items["text"][0] == "Title: Red mug"
    assert tables.stats()["items_missing_image"] == 2


def test_tables_round_trip(tmp_path):
    root = _write_dataset(tmp_path / "shop")
    tables = load_tables(DataConfig(dataset=str(root), text_fields=["title"], image_field="image"))
    tables.save(tmp_path / "saved")
    again = Tables.load(tmp_path / "saved")
    assert again.items.to_dict() == tables.items.to_dict()
    np.testing.assert_array_equal(again.interactions["timestamp"], tables.interactions["timestamp"])

"""Every bad input stops with one message naming file, line and column, and leaves nothing half-written."""

import re

import pandas as pd
import pytest
from PIL import Image

from mmrec.data import DataError, load_tables
from mmrec.data.config import DataConfig
from mmrec.pipeline import Pipeline
from mmrec.recipe import RecipeConfig
from mmrec.stages import default_stages


def _good(root):
    root.mkdir(parents=True, exist_ok=True)
    (root / "img").mkdir(exist_ok=True)
    Image.new("RGB", (8, 8)).save(root / "img" / "a.jpg")
    pd.DataFrame({"item_id": ["a", "b", "c"], "title": ["A", "B", "C"], "image": ["img/a.jpg", "", ""]}).to_csv(
        root / "items.csv", index=False)
    pd.DataFrame({"user_id": ["u1"] * 3 + ["u2"] * 3, "item_id": ["a", "b", "c", "c", "b", "a"],
                  "timestamp": [1, 2, 3, 1, 2, 3]}).to_csv(root / "interactions.csv", index=False)
    return root


def _edit_csv(path, edit):
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    edit(frame)
    frame.to_csv(path, index=False)


def _corrupt_image(root):
    (root / "img" / "a.jpg").write_bytes(b"not a jpeg at all")


CASES = {
    "missing column": (lambda r: _edit_csv(r / "interactions.csv", lambda f: f.pop("timestamp")),
                       "interactions.csv, column 'timestamp': missing required column", "timestamp", None),
    "unknown item": (lambda r: _edit_csv(r / "interactions.csv", lambda f: f.__setitem__("item_id", ["a", "b", "zz", "c", "b", "a"])),
                     "item 'zz' is not in items.csv", "item_id", 4),
    "duplicate item id": (lambda r: _edit_csv(r / "items.csv", lambda f: f.__setitem__("item_id", ["a", "b", "a"])),
                          "duplicate ID 'a'", "item_id", 4),
    "non-numeric timestamp": (lambda r: _edit_csv(r / "interactions.csv", lambda f: f.__setitem__("timestamp", ["1", "2", "3", "x", "2", "3"])),
                              "not a number: 'x'", "timestamp", 5),
    "empty file": (lambda r: (r / "items.csv").write_text(""), "items.csv: file is empty", None, None),
    "header only": (lambda r: (r / "interactions.csv").write_text("user_id,item_id,timestamp\n"),
                    "interactions.csv: file has no rows", None, None),
    "image escapes dataset": (lambda r: _edit_csv(r / "items.csv", lambda f: f.__setitem__("image", ["img/a.jpg", "../../etc/passwd", ""])),
                              "image path escapes the dataset directory", "image", 3),
    "unreadable image": (_corrupt_image, "unreadable image 'img/a.jpg'", "image", 2),
    "missing table": (lambda r: (r / "items.csv").unlink(), "items.csv: missing", None, None),
    "text field not a column": (None, "text field named by the recipe is not a column", "plot", None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_names_file_row_column(tmp_path, case):
    breaker, message, column, line = CASES[case]
    root = _good(tmp_path / "data")
    fields = ["title", "plot"] if case == "text field not a column" else ["title"]
    if breaker:
        breaker(root)
    with pytest.raises(DataError) as info:
        load_tables(DataConfig(dataset=str(root), text_fields=fields, image_field="image"))
    text = str(info.value)
    assert message in text
    if column:
        assert f"column '{column}'" in text
    if line:
        assert re.search(rf"line {line}\b", text), text


def test_bad_input_leaves_no_artifact(tmp_path, capsys):
    root = _good(tmp_path / "data")
    _edit_csv(root / "interactions.csv", lambda f: f.__setitem__("item_id", ["a", "b", "zz", "c", "b", "a"]))
    cfg = RecipeConfig(data=DataConfig(dataset=str(root), text_fields=["title"], image_field="image"))
    run_dir = tmp_path / "run"
    with pytest.raises(DataError):
        Pipeline(cfg, run_dir, default_stages()).run()
    leftovers = [p for p in (run_dir / "artifacts").rglob("*")] if (run_dir / "artifacts").exists() else []
    assert leftovers == []


def test_ml100k_bad_row(tmp_path, data_root):
    """The GroupLens loader reports file lines too (no header: line = row + 1)."""
    ml = tmp_path / "ml-100k"
    ml.mkdir()
    for name in ("u.item", "u.user"):
        (ml / name).write_bytes((data_root / "ml-100k" / name).read_bytes())
    lines = (data_root / "ml-100k" / "u.data").read_text().splitlines()[:20]
    lines[9] = "1\t99999\t3\t881250949"
    (ml / "u.data").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"u.data, line 10, column 'item_id': item '99999' is not in u.item"):
        load_tables(DataConfig(dataset=str(ml)))

"""Frappe from its libsvm files: field offsets, checks, the seeded 8:1:1 re-split, and the recipe's fields."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from mmrec.data.errors import DataError
from mmrec.data.frappe import FIELD_NAMES, FIELDS, SHA256, read_libsvm, resplit, write_splits
from mmrec.features import FeatureMap, encode_file, fit_file, frame_chunks, parse_fields

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def frappe_dir() -> Path:
    root = Path(os.environ.get("MMREC_DATA", REPO.parent / "shared" / "datasets")) / "frappe"
    if not (root / "x1_test.libsvm").is_file():
        pytest.skip("Frappe not found under $MMREC_DATA/frappe")
    return root


@pytest.fixture(scope="module")
def slice_file(frappe_dir, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("frappe") / "x1_test.libsvm"
    with open(frappe_dir / "x1_test.libsvm") as src:
        path.write_text("".join(next(src) for _ in range(3000)))
    return path


def test_libsvm_fields_are_local_indices_inside_their_cardinality(slice_file):
    frame = read_libsvm(slice_file)
    assert list(frame.columns) == [*FIELD_NAMES, "label"] and len(frame) == 3000
    for name, _, card in FIELDS:
        assert frame[name].between(0, card - 1).all(), name
    assert 0.25 < frame["label"].mean() < 0.4  # README: positive rate 0.330
    first = (slice_file.read_text().splitlines()[0]).split()  # 0 204:1 4798:1 ...
    assert frame.loc[0, "user"] == int(first[1].split(":")[0]) and frame.loc[0, "item"] == 4798 - 957


def test_bad_lines_and_checksums_are_errors_naming_file_and_line(slice_file, tmp_path):
    bad = tmp_path / "bad.libsvm"
    lines = slice_file.read_text().splitlines()
    bad.write_text("\n".join([lines[0], lines[1].replace(" 42:1", " 5100:1")]) + "\n")
    with pytest.raises(DataError, match=r"bad.libsvm, line 2, column 'user'"):
        read_libsvm(bad)
    with pytest.raises(DataError, match="sha256"):
        read_libsvm(slice_file, SHA256["x1_test.libsvm"])


def test_resplit_is_seeded_disjoint_and_8_1_1(slice_file):
    frame = read_libsvm(slice_file).reset_index(names="row")
    parts = resplit(frame, seed=3)
    assert [len(p) for p in parts.values()] == [2400, 300, 300]
    rows = [set(p["row"]) for p in parts.values()]
    assert set.union(*rows) == set(range(3000)) and sum(map(len, rows)) == 3000
    assert resplit(frame, seed=3)["valid"].equals(parts["valid"])
    assert not resplit(frame, seed=4)["valid"].equals(parts["valid"])


def test_recipe_fields_fit_and_encode_the_real_files(frappe_dir, tmp_path):
    entries = yaml.safe_load((REPO / "recipes" / "frappe.yaml").read_text())["features"]
    fields = parse_fields(entries, "recipes/frappe.yaml: features")
    assert [f.name for f in fields] == [*FIELD_NAMES, "label"]
    assert [f.kind for f in fields if f.name == "homework"] == ["domain"]
    paths = write_splits(frappe_dir, tmp_path / "splits", seed=0)  # checks both sha256s
    fmap = fit_file(fields, paths["train"])
    test = encode_file(fmap, paths["test"], "test")
    assert test["user"].shape == (8658,) and set(test) == {*FIELD_NAMES, "label"}
    assert fmap.entry("item").size <= 4082 + 2 and (test["item"] == 1).float().mean() < 0.01  # few unseen apps
    back = FeatureMap.fit(fields, frame_chunks(read_libsvm(frappe_dir / "x1_test.libsvm").head(10)))
    assert back.entry("daytime").vocab  # a fresh fit from an in-memory frame works alike

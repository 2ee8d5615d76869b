"""Bad input: each a FeatureError naming file, row and field."""

from __future__ import annotations

import pandas as pd
import pytest

from mmrec.features import FeatureError, FeatureMap, encode_file, fit_file, frame_chunks, parse_fields


def test_unknown_field_type_names_the_field_and_suggests():
    with pytest.raises(FeatureError, match=r"recipe.yaml: features\[0\] \(field 'u'\): unknown field type "
                                           r"'categorial'; did you mean 'categorical'"):
        parse_fields([{"name": "u", "type": "categorial"}, {"name": "y", "type": "label"}], "recipe.yaml: features")


def test_unknown_option_and_missing_label():
    with pytest.raises(FeatureError, match="unknown option.*min_cout"):
        parse_fields([{"name": "u", "type": "categorical", "min_cout": 2}, {"name": "y", "type": "label"}])
    with pytest.raises(FeatureError, match="no field of type 'label'"):
        parse_fields([{"name": "u", "type": "categorical"}])


def _csv(tmp_path, frame, name="train.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_missing_column_names_file_and_field(tmp_path):
    fields = parse_fields([{"name": "u", "type": "categorical", "source": "user"}, {"name": "y", "type": "label"}])
    path = _csv(tmp_path, pd.DataFrame({"usr": ["a"], "y": [1]}))
    with pytest.raises(FeatureError, match=r"train.csv, field 'u': column 'user' is missing"):
        fit_file(fields, path)


def test_numeric_text_names_file_row_and_field(tmp_path):
    fields = parse_fields([{"name": "price", "type": "numeric"}, {"name": "y", "type": "label"}])
    path = _csv(tmp_path, pd.DataFrame({"price": ["1.5", "2", "cheap", "3"], "y": [1, 0, 1, 0]}))
    with pytest.raises(FeatureError, match=r"train.csv row 3, field 'price': 'cheap' is not a number"):
        fit_file(fields, path, rows=2)  # row counted across chunks


def test_label_not_01_names_row(tmp_path):
    fields = parse_fields([{"name": "u", "type": "categorical"}, {"name": "y", "type": "label"}])
    path = _csv(tmp_path, pd.DataFrame({"u": ["a", "b", "c"], "y": [1, 0, 2]}))
    with pytest.raises(FeatureError, match=r"train.csv row 3, field 'y': label .*2.* is not 0/1"):
        fit_file(fields, path)


def test_empty_split_names_file_and_split(tmp_path):
    fields = parse_fields([{"name": "u", "type": "categorical"}, {"name": "y", "type": "label"}])
    train = _csv(tmp_path, pd.DataFrame({"u": ["a"], "y": [1]}))
    empty = tmp_path / "valid.csv"
    empty.write_text("u,y\n")
    fmap = fit_file(fields, train)
    with pytest.raises(FeatureError, match=r"valid.csv: split 'valid' has no rows"):
        encode_file(fmap, empty, "valid")
    with pytest.raises(FeatureError, match=r"valid.csv: split 'train' has no rows"):
        fit_file(fields, empty)


def test_vocabulary_mismatch_names_the_field(tmp_path):
    fields = parse_fields([{"name": "u", "type": "categorical"}, {"name": "y", "type": "label"}])
    small = FeatureMap.fit(fields, frame_chunks(pd.DataFrame({"u": ["a", "b"], "y": [1, 0]})))
    big = FeatureMap.fit(fields, frame_chunks(pd.DataFrame({"u": ["a", "b", "c"], "y": [1, 0, 1]})))
    big.save(tmp_path / "fm.json")
    with pytest.raises(FeatureError, match=r"fm.json: vocabulary mismatch on field 'u': the feature map has 5 "
                                           r"entries, the model's table 4"):
        FeatureMap.load(tmp_path / "fm.json").check_sizes(small.sizes(), str(tmp_path / "fm.json"))

"""Field declarations: every kind parses from its YAML mapping and writes back the same mapping."""

from __future__ import annotations

import pytest
import yaml
from conftest import ENTRIES

from mmrec.features import FIELD_TYPES, FeatureError, parse_fields
from mmrec.features.schema import Context, Sequence, to_entry


def test_every_kind_round_trips_through_yaml():
    fields = parse_fields(ENTRIES)
    assert {f.kind for f in fields} == set(FIELD_TYPES)
    text = yaml.safe_dump([to_entry(f) for f in fields])
    assert parse_fields(yaml.safe_load(text)) == fields


def test_defaults_and_nested_sequence_fields():
    fields = {f.name: f for f in parse_fields(ENTRIES)}
    assert fields["user"].source == "user" and fields["ctx"].source == "ts"
    seq = fields["hist"]
    assert isinstance(seq, Sequence) and [s.kind for s in seq.fields] == ["categorical", "numeric"]
    assert seq.columns() == ["hist_item", "hist_t"]
    assert isinstance(fields["ctx"], Context) and fields["ctx"].columns() == ["ts", "prev_ts"]


@pytest.mark.parametrize("entry, message", [
    ({"name": "p", "type": "numeric", "normaliser": "zscore"}, "normaliser 'zscore' is not one of"),
    ({"name": "g", "type": "multi_categorical", "pooling": "max"}, "pooling 'max' is not one of"),
    ({"name": "c", "type": "context", "parts": ["recency"]}, "needs a 'reference' timestamp column"),
    ({"name": "s", "type": "sequence", "fields": [{"name": "x", "type": "embedding"}]}, "sub-fields of type"),
    ({"name": "u", "type": "categorical", "min_count": 0}, "min_count must be >= 1"),
])
def test_bad_options_name_the_field(entry, message):
    with pytest.raises(FeatureError, match=f"field '{entry['name']}'.*{message}"):
        parse_fields([entry, {"name": "y", "type": "label"}])


def test_duplicate_names_are_refused():
    with pytest.raises(FeatureError, match="u declared more than once"):
        parse_fields([{"name": "u", "type": "categorical"}, {"name": "u", "type": "numeric"},
                      {"name": "y", "type": "label"}])

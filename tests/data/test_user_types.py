"""The data types users bring: timestamps as numbers / ISO 8601 / datetimes, duplicate events, string IDs."""

import json

import numpy as np
import pandas as pd
import pytest

from mmrec.core.config import ConfigError, from_dict
from mmrec.data.config import DataConfig
from mmrec.recipe import RecipeConfig
from mmrec.data import DataError, Tables, load_tables
from mmrec.data.timestamps import to_seconds
from mmrec.pipeline import Pipeline
from mmrec.stages import default_stages

T0 = 1603833600  # 2020-10-27T21:20:00Z


def _dataset(root, interactions: dict, fmt="csv", items=("a", "b", "c")):
    root.mkdir(parents=True, exist_ok=True)
    frames = {"items": pd.DataFrame({"item_id": list(items), "title": [f"T {i}" for i in items]}),
              "interactions": pd.DataFrame(interactions)}
    for name, frame in frames.items():
        if fmt == "csv":
            frame.to_csv(root / f"{name}.csv", index=False)
        else:
            frame.to_parquet(root / f"{name}.parquet", index=False)
    return root


def _load(root, **kw):
    return load_tables(DataConfig(dataset=str(root), text_fields=["title"], image_field=None, **kw))


def test_iso_strings_with_and_without_zones(tmp_path):
    stamps = ["2020-10-27T21:26:40", "2020-10-27 21:26:41.750", "2020-10-27T23:26:42+02:00", "2020-10-27T21:26:43Z",
              "2020-10-27T16:26:44.5-05:00", "2020-10-28"]
    root = _dataset(tmp_path / "d", {"user_id": ["u"] * 6, "item_id": list("abcabc"), "timestamp": stamps})
    got = np.asarray(_load(root).interactions["timestamp"])
    np.testing.assert_array_equal(got, [T0 + 400, T0 + 401, T0 + 402, T0 + 403, T0 + 404, 1603843200])


def test_mixed_zones_sort_in_true_time_order(tmp_path):
    """10:00+02:00 (08:00 UTC) happens before 09:00 UTC although its wall-clock reads later."""
    root = _dataset(tmp_path / "d", {"user_id": ["u", "u"], "item_id": ["a", "b"],
                                     "timestamp": ["2020-10-27T09:00:00Z", "2020-10-27T10:00:00+02:00"]})
    stamps = np.asarray(_load(root).interactions["timestamp"])
    assert stamps[1] - stamps[0] == -3600


def test_parquet_datetimes_match_iso_strings(tmp_path):
    iso = ["2020-10-27T21:26:40", "2020-10-27T21:26:41", "2020-10-27T21:26:42"]
    inter = {"user_id": ["u"] * 3, "item_id": list("abc")}
    from_csv = _load(_dataset(tmp_path / "csv", {**inter, "timestamp": iso}))
    naive = _load(_dataset(tmp_path / "naive", {**inter, "timestamp": pd.to_datetime(iso)}, fmt="parquet"))
    aware = _load(_dataset(tmp_path / "aware", {**inter, "timestamp": pd.to_datetime(iso).tz_localize("UTC")
                                                .tz_convert("Asia/Tokyo")}, fmt="parquet"))
    millis = _load(_dataset(tmp_path / "ms", {**inter, "timestamp": pd.to_datetime(iso).astype("datetime64[ms]")},
                            fmt="parquet"))
    expected = [T0 + 400, T0 + 401, T0 + 402]
    for tables in (from_csv, naive, aware, millis):
        np.testing.assert_array_equal(np.asarray(tables.interactions["timestamp"]), expected)


def test_numbers_stay_seconds():
    got = to_seconds(pd.Series(["1603834000", "1603834001.9", " 7 "]), "f.csv", 2)
    np.testing.assert_array_equal(got, [1603834000, 1603834001, 7])
    assert to_seconds(pd.Series([3, 1]), "f.parquet", 1).dtype == np.int64


BAD_TIMESTAMPS = {
    "US date": (["2020-10-27T21:26:40", "10/27/2020"], "not a timestamp: '10/27/2020'"),
    "word": (["2020-10-27", "yesterday"], "not a timestamp: 'yesterday'"),
    "impossible date": (["2020-10-27", "2020-13-40"], "not a timestamp: '2020-13-40'"),
    "number among dates": (["2020-10-27", "1603834000"], "not a timestamp: '1603834000'"),
    "date among numbers": (["1603834000", "2020-10-27"], "not a number: '2020-10-27'"),
    "empty": (["1603834000", ""], "not a number: ''"),
}


@pytest.mark.parametrize("case", list(BAD_TIMESTAMPS))
def test_bad_timestamp_names_file_line_column_value(tmp_path, case):
    values, message = BAD_TIMESTAMPS[case]
    root = _dataset(tmp_path / "d", {"user_id": ["u", "u"], "item_id": ["a", "b"], "timestamp": values})
    with pytest.raises(DataError) as info:
        _load(root)
    assert str(info.value).startswith(f"{root / 'interactions.csv'}, line 3, column 'timestamp': {message}")


def test_missing_parquet_datetime_is_named(tmp_path):
    stamps = pd.to_datetime(["2020-10-27T21:26:40", None])
    root = _dataset(tmp_path / "d", {"user_id": ["u", "u"], "item_id": ["a", "b"], "timestamp": stamps}, "parquet")
    with pytest.raises(DataError, match=r"interactions.parquet, line 2, column 'timestamp': missing timestamp"):
        _load(root)


def test_bad_timestamp_leaves_no_artifact(tmp_path):
    root = _dataset(tmp_path / "d", {"user_id": ["u"] * 3, "item_id": list("abc"),
                                     "timestamp": ["2020-10-27", "2020-10-28", "27.10.2020"]})
    cfg = RecipeConfig(data=DataConfig(dataset=str(root), text_fields=["title"], image_field=None))
    with pytest.raises(DataError, match="line 4, column 'timestamp'"):
        Pipeline(cfg, tmp_path / "run", default_stages()).run(["prepare"])
    artifacts = tmp_path / "run" / "artifacts"
    assert not artifacts.exists() or list(artifacts.rglob("*")) == []


DUPLICATED = {"user_id": ["u1", "u1", "u1", "u2", "u1", "u2"], "item_id": ["a", "b", "a", "a", "a", "a"],
              "timestamp": [1, 2, 1, 1, 3, 1], "rating": [5, 4, 3, 2, 1, 2]}  # rows 3 and 6 repeat rows 1 and 4


def test_duplicates_counted_and_dropped_by_default(tmp_path):
    tables = _load(_dataset(tmp_path / "d", DUPLICATED))
    assert tables.stats()["duplicate_events"] == 2 and tables.stats()["duplicates"] == "drop"
    inter = tables.interactions.with_format("numpy")[:]
    np.testing.assert_array_equal(inter["order"], [0, 1, 3, 4])  # the first of each repeat, file order kept
    np.testing.assert_array_equal(inter["rating"], [5, 4, 2, 1])
    kept = _load(_dataset(tmp_path / "d", DUPLICATED), duplicates="keep")
    assert len(kept.interactions) == 6 and kept.stats()["duplicate_events"] == 2
    tables.save(tmp_path / "saved")
    assert Tables.load(tmp_path / "saved").stats() == tables.stats()


def test_duplicate_count_reaches_prepare_stats(tmp_path):
    root = _dataset(tmp_path / "d", {k: v * 2 for k, v in DUPLICATED.items()})
    cfg = RecipeConfig(data=DataConfig(dataset=str(root), text_fields=["title"], image_field=None,
                                       min_user_interactions=1))
    cfg.split.kinds = ["leave-one-out"]
    out = Pipeline(cfg, tmp_path / "run", default_stages()).run(["prepare"])["prepare"]
    stats = json.loads((out / "stats.json").read_text())["tables"]
    assert stats["duplicate_events"] == 8 and stats["n_interactions"] == 4
    assert json.loads((out / "tables" / "tables.json").read_text())["duplicate_events"] == 8


def test_duplicates_option_is_checked():
    with pytest.raises(ConfigError, match=r"data.duplicates: 'dedupe' is not one of \['keep', 'drop'\]"):
        from_dict(RecipeConfig, {"data": {"duplicates": "dedupe"}})
    with pytest.raises(ConfigError, match="data.max_rows must be >= 1"):
        from_dict(RecipeConfig, {"data": {"max_rows": 0}})


ODD_IDS = ["00123", "123", "a b", " lead", "trail ", "ünïcödé-☃", "x,y", 'say "hi"', "tab\there", "東京"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_string_ids_round_trip(tmp_path, fmt):
    users = ["007", "7", "Zoë Smith", "a,b"]
    inter = {"user_id": [users[i % 4] for i in range(len(ODD_IDS))], "item_id": ODD_IDS[::-1],
             "timestamp": list(range(len(ODD_IDS)))}
    root = _dataset(tmp_path / "d", inter, fmt=fmt, items=ODD_IDS)
    tables = _load(root)
    assert tables.items["item_id"] == ODD_IDS  # leading zeros, spaces, quotes, commas, unicode: all exact
    assert sorted(tables.users["user_id"]) == sorted(users)
    tables.save(tmp_path / "saved")
    again = Tables.load(tmp_path / "saved")
    inter_back = again.interactions.with_format("numpy")[:]
    assert [again.items["item_id"][i - 1] for i in inter_back["item_idx"]] == ODD_IDS[::-1]
    assert [again.users["user_id"][u - 1] for u in inter_back["user_idx"]] == inter["user_id"]


@pytest.mark.parametrize("values, message", [
    (pd.Series([True, False]), "line 1, column 'timestamp': not a timestamp: True"),
    (pd.Series([1.0, np.nan]), "line 2, column 'timestamp': not a number: nan"),
    (pd.Series(pd.array([1, None], dtype="Int64")), "line 2, column 'timestamp': not a number: <NA>"),
])
def test_bad_typed_timestamps(values, message):
    with pytest.raises(DataError, match=f"^f.parquet, {message}"):
        to_seconds(values, "f.parquet", 1)

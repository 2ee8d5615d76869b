"""ml-100k CTR events for the feature layer, checked against the raw files read independently here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmrec.data.ml100k_ctr import COLUMNS, ml100k_ctr_frames


@pytest.fixture(scope="module")
def frames(data_root):
    return ml100k_ctr_frames(data_root / "ml-100k")


@pytest.fixture(scope="module")
def raw(data_root) -> pd.DataFrame:
    """u.data with each user's events in time order (ties by file line), the definition of 'earlier'."""
    data = pd.read_csv(data_root / "ml-100k" / "u.data", sep="\t", names=["user", "item", "rating", "ts"])
    data["line"] = np.arange(len(data))
    return data.sort_values(["user", "ts", "line"], kind="stable").reset_index(drop=True)


def test_columns_and_counts(frames, raw):
    for part in frames.values():
        assert list(part.columns) == COLUMNS
    n = raw.groupby("user").size().to_numpy()
    n_test = np.maximum(1, np.round(0.2 * n)).astype(int)
    n_valid = np.maximum(1, np.round(0.1 * n)).astype(int)
    assert (len(frames["test"]), len(frames["valid"])) == (n_test.sum(), n_valid.sum()) == (20000, 9988)
    assert len(frames["train"]) == (n - n_test - n_valid).sum() == 70012
    # user 1: 272 ratings -> 54 test, 27 valid, 191 train
    assert [(frames[p]["user"] == 1).sum() for p in ("train", "valid", "test")] == [191, 27, 54]
    for name, part in frames.items():
        assert part["click"].isin([0, 1]).all()
    positives = (raw["rating"] >= 4).sum()
    assert sum(int(p["click"].sum()) for p in frames.values()) == positives


def test_history_is_exactly_the_earlier_events(frames, raw):
    for user in (1, 405, 13):  # 405 has 737 events: its late histories are capped at 200
        mine = raw[raw["user"] == user].reset_index(drop=True)
        events = pd.concat([frames[p][frames[p]["user"] == user] for p in ("train", "valid", "test")],
                           ignore_index=True)
        assert len(events) == len(mine)
        assert events["item"].tolist() == mine["item"].tolist()  # parts are consecutive in time
        assert events["click"].tolist() == (mine["rating"] >= 4).astype(int).tolist()
        for k in (0, 1, 57, len(mine) - 1):
            row = events.iloc[k]
            earlier = mine.iloc[max(0, k - 200):k]
            assert list(row["hist_item"]) == earlier["item"].tolist()
            assert list(row["hist_rating"]) == earlier["rating"].tolist()
            assert list(row["hist_hour"]) == ((earlier["ts"] // 3600) % 24).tolist()
            hours = (mine["ts"].iloc[k] - earlier["ts"]) / 3600.0
            np.testing.assert_allclose(np.asarray(row["hist_age"], dtype=float), np.log1p(hours), rtol=1e-12)
    assert len(frames["test"][frames["test"]["user"] == 405]["hist_item"].iloc[-1]) == 200


def test_no_future_event_leaks(frames):
    for part in frames.values():
        lengths = part["hist_age"].map(len).to_numpy()
        ages = np.concatenate(part["hist_age"].to_numpy())
        assert (ages >= 0).all()  # every history event is at or before the target's time
        assert (lengths <= 200).all()
    # per user, valid starts after the last train event and test after the last valid one
    last = {p: frames[p].groupby("user")["timestamp"].max() for p in frames}
    first = {p: frames[p].groupby("user")["timestamp"].min() for p in frames}
    assert (first["valid"] >= last["train"].reindex(first["valid"].index)).all()
    assert (first["test"] >= last["valid"].reindex(first["test"].index)).all()
    # the test history of a user holds the valid events: histories cross the split boundary, labels do not
    first_test = frames["test"].groupby("user").head(1).set_index("user")
    last_valid = frames["valid"].groupby("user").tail(1).set_index("user")
    assert (first_test["hist_item"].map(lambda h: h[-1]) == last_valid["item"]).all()


def test_user_and_item_fields(frames, data_root):
    train = frames["train"]
    by_user = train.groupby("user").first()
    # u.user: 1|24|M|technician|85711, 2|53|F|other|94043, 7|57|M|administrator|91344, 30|7|M|student|55436
    assert by_user.loc[1, ["age_band", "age_domain", "gender", "occupation", "zip_prefix"]].tolist() == \
        ["18-24", "<25", "M", "technician", "8"]
    assert by_user.loc[2, ["age_band", "age_domain"]].tolist() == ["50-55", "50+"]
    assert by_user.loc[7, ["age_band", "age_domain"]].tolist() == ["56+", "50+"]
    assert by_user.loc[30, ["age_band", "age_domain"]].tolist() == ["<18", "<25"]
    users = pd.read_csv(data_root / "ml-100k" / "u.user", sep="|", names=["u", "age", "g", "o", "zip"])
    ages = users.set_index("u")["age"].reindex(by_user.index)
    domain = np.select([ages < 25, ages < 35, ages < 50], ["<25", "25-34", "35-49"], "50+")
    assert (by_user["age_domain"].to_numpy() == domain).all()
    assert set(by_user["age_band"]) == {"<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+"}
    by_item = train.groupby("item").first()
    # u.item: 1 Toy Story (1995) Animation|Children's|Comedy; 267 "unknown" (no date, only the unknown flag)
    assert by_item.loc[1, ["category", "genres", "year"]].tolist() == ["Animation", "Animation|Children's|Comedy",
                                                                       1995.0]
    assert by_item.loc[267, ["category", "genres"]].tolist() == ["unknown", "unknown"]
    assert np.isnan(by_item.loc[267, "year"])
    row = train[train["hist_item"].map(len) > 0].iloc[0]
    cats = by_item["category"].reindex(list(row["hist_item"])).tolist()
    assert list(row["hist_category"]) == cats  # the history borrows the target's category token


def test_weekday_matches_the_calendar(frames):
    row = frames["test"].iloc[0]
    stamps = pd.to_datetime(np.asarray([row["timestamp"]]), unit="s", utc=True)
    last_hist = frames["test"].iloc[1]  # its last history event is test row 0 (same user)
    assert last_hist["hist_item"][-1] == row["item"]
    assert last_hist["hist_weekday"][-1] == stamps.dayofweek[0]
    assert last_hist["hist_hour"][-1] == stamps.hour[0]

"""ml-100k as an impression -> click -> conversion funnel: every rated event is a clicked impression whose
conversion is its like (rating >= 4), each with sampled unclicked impressions of items that user never rated,
carrying the event's user, time and history and the sampled item's own fields."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmrec.data.ml100k_ctr import ml100k_ctr_frames
from mmrec.data.ml100k_funnel import _sample_unrated, ml100k_funnel_frames


@pytest.fixture(scope="module")
def funnel(data_root):
    return ml100k_funnel_frames(data_root / "ml-100k", negatives_per_event=2, seed=3, max_history=5)


@pytest.fixture(scope="module")
def events(data_root):
    return ml100k_ctr_frames(data_root / "ml-100k", max_history=5)


@pytest.fixture(scope="module")
def rated(data_root) -> set[tuple[int, int]]:
    raw = pd.read_csv(data_root / "ml-100k" / "u.data", sep="\t", names=["user", "item", "rating", "ts"])
    return set(zip(raw.user, raw.item))


def test_clicked_impressions_are_the_rated_events_and_convert_on_a_like(funnel, events):
    for name, part in funnel.items():
        clicked = part[part.click == 1].reset_index(drop=True)
        assert len(clicked) == len(events[name]) and len(part) == 3 * len(events[name])
        # the same events in the same (user, time) order; conversion is the CTR label (rating >= 4)
        assert clicked["item"].tolist() == events[name]["item"].tolist()
        assert clicked["conversion"].tolist() == events[name]["click"].tolist()
        assert (part.conversion <= part.click).all()  # entire space: no conversion without a click


def test_sampled_impressions_were_never_rated_and_carry_their_items_fields(funnel, rated, events):
    items = events["train"].drop_duplicates("item").set_index("item")[["category", "genres", "year"]]
    for part in funnel.values():
        unclicked = part[part.click == 0]
        assert unclicked.conversion.eq(0).all()
        assert not any((u, i) in rated for u, i in zip(unclicked.user, unclicked.item))
        known = unclicked[unclicked.item.isin(items.index)]
        expected = items.loc[known.item]
        assert known.category.tolist() == expected.category.tolist()
        assert known.genres.tolist() == expected.genres.tolist()
    # sampled by popularity: the most impressed items are popular ones, far above a uniform draw's share
    train = funnel["train"]
    top = train[train.click == 1].item.value_counts().index[:50]
    share = train[train.click == 0].item.isin(top).mean()
    assert share > 3 * 50 / events["train"].item.nunique(), share


def test_a_sampled_impression_keeps_its_events_user_time_and_history(funnel):
    for part in funnel.values():
        frame = part.assign(hist=part.hist_item.map(lambda h: "|".join(map(str, h))))
        keys = ["user", "timestamp", "age_band", "occupation", "hist"]
        clicked = frame[frame.click == 1].groupby(keys).size()
        unclicked = frame[frame.click == 0].groupby(keys).size()
        # every sampled impression sits on an event's (user, time, profile, history), two per event
        assert unclicked.index.isin(clicked.index).all()
        assert unclicked.reindex(clicked.index, fill_value=0).eq(2 * clicked).all()


def test_seeded_and_checked(data_root, funnel):
    again = ml100k_funnel_frames(data_root / "ml-100k", negatives_per_event=2, seed=3, max_history=5)["valid"]
    assert again.item.tolist() == funnel["valid"].item.tolist()
    popularity, rated = np.arange(11.0), np.array([1 * 11 + 3, 2 * 11 + 4])
    draws = [_sample_unrated(np.random.default_rng(s), np.array([1, 2] * 50), popularity, rated, 10) for s in (0, 0, 1)]
    assert np.array_equal(draws[0], draws[1]) and not np.array_equal(draws[0], draws[2])
    assert not ((draws[0][::2] == 3).any() or (draws[0][1::2] == 4).any()) and (draws[0] > 0).all()
    with pytest.raises(ValueError, match="negatives_per_event"):
        ml100k_funnel_frames(data_root / "ml-100k", negatives_per_event=-1)

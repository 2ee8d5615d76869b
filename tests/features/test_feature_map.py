"""The fitted feature map: vocabularies on train only, normalisers, derived context, sequences, JSON round trip."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from mmrec.features import FeatureMap, encode_file, fit_file, frame_chunks, read_chunks


@pytest.fixture
def fmap(fields, frame, embeddings):
    return FeatureMap.fit(fields, frame_chunks(frame), embeddings)


def test_categorical_vocab_is_by_count_with_pad_oov_and_min_count(fmap, frame):
    enc = fmap.encode(frame)
    assert fmap.entry("item").vocab == ["i1", "i2", "i3"]  # i1 twice first, then by token
    assert enc["item"].tolist() == [2, 3, 4, 2]
    assert fmap.entry("user").vocab == ["a"]  # b, c seen once < min_count 2
    assert enc["user"].tolist() == [2, 2, 1, 1]
    unseen = fmap.encode(pd.DataFrame({**{c: frame[c][:1] for c in frame}, "item": ["zzz"]}))
    assert unseen["item"].tolist() == [1]


def test_multi_categorical_padded_and_numeric_normalisers(fmap, frame):
    enc = fmap.encode(frame)
    assert enc["genres"][:, :3].tolist() == [[3, 2, 0], [2, 0, 0], [0, 0, 0], [0, 0, 0]]  # y (2x) before x
    logs = np.log1p([1.0, 3.0, 10.0])
    expected = (logs - logs.mean()) / logs.std()
    got = enc["price"].numpy()
    assert math.isnan(got[1]) and np.allclose(got[[0, 2, 3]], expected, atol=1e-6)
    assert np.allclose(enc["age"].numpy(), [0.0, 0.25, 0.5, 1.0])


def test_context_parts_from_timestamp(fmap, frame):
    enc = fmap.encode(frame)
    assert enc["ctx.hour"].tolist() == [0 + 2, 5 + 2, 0 + 2, 0 + 2]
    assert enc["ctx.weekday"].tolist() == [3 + 2, 3 + 2, 5 + 2, 3 + 2]  # 1970-01-01 Thursday; Monday = 0
    hours = np.log1p(np.array([0, 5, 24, 100 / 3600]))
    assert np.allclose(enc["ctx.recency"].numpy(), (hours - hours.mean()) / hours.std(), atol=1e-5)


def test_sequence_keeps_the_latest_events_left_padded_with_a_shared_vocabulary(fmap, frame):
    enc = fmap.encode(frame)
    assert enc["hist.item"].tolist() == [[0, 2, 3], [0, 0, 3], [0, 0, 0], [3, 4, 2]]
    t = enc["hist.t"].numpy()
    assert np.isnan(t[2]).all() and np.isnan(t[0, 0]) and not np.isnan(t[3]).any()
    assert t[3, 0] < t[3, 1] < t[3, 2]  # 2 < 3 < 4, standardised over the flattened train values


def test_embedding_rows_and_labels(fmap, frame):
    enc = fmap.encode(frame)
    assert enc["txt"].tolist() == [1, 2, 0, 1]  # i3 has no pretrained vector -> row 0
    missing = fmap.encode(frame.assign(item=[None, "i2", "zzz", "i1"]))
    assert missing["txt"].tolist() == [0, 2, 0, 1]  # a missing or unknown ID -> row 0 too
    assert enc["click"].dtype == torch.float32 and enc["click"].tolist() == [1, 0, 1, 0]
    assert "click" not in fmap.encode(frame.drop(columns="click"), labels=False)


def test_json_round_trip_is_exact(fmap, frame, tmp_path):
    fmap.save(tmp_path / "fm.json")
    back = FeatureMap.load(tmp_path / "fm.json")
    assert back.to_dict() == fmap.to_dict()
    a, b = fmap.encode(frame), back.encode(frame)
    assert a.keys() == b.keys() and all(torch.equal(a[k].nan_to_num(-9), b[k].nan_to_num(-9)) for k in a)


def test_list_of_dicts_encodes_like_the_frame(fmap, frame):
    rows = frame.to_dict(orient="records")
    a, b = fmap.encode(frame), fmap.encode(rows)
    assert all(torch.equal(a[k].nan_to_num(-9), b[k].nan_to_num(-9)) for k in a)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_streaming_fit_and_encode_match_in_memory(fields, frame, embeddings, tmp_path, suffix):
    big = pd.concat([frame] * 5, ignore_index=True)
    path = tmp_path / f"train.{suffix}"
    if suffix == "csv":
        big.assign(hist_item=big["hist_item"].map(lambda v: "|".join(v) if isinstance(v, list) else v)).to_csv(
            path, index=False)
    else:
        big.assign(hist_item=big["hist_item"].map(lambda v: "|".join(v) if isinstance(v, list) else v),
                   genres=big["genres"].fillna("")).to_parquet(path, index=False)
    assert [len(f) for f, _, _ in read_chunks(path, rows=7)] == [7, 7, 6]
    streamed = fit_file(fields, path, embeddings, rows=7)
    whole = FeatureMap.fit(fields, frame_chunks(big), embeddings)
    for got, want in zip(streamed.entries, whole.entries):  # equal up to float summation order of the chunks
        assert got.stats == pytest.approx(want.stats, rel=1e-12)
        got.stats = want.stats
    assert streamed.to_dict() == whole.to_dict()
    enc = encode_file(streamed, path, "train", rows=7)
    assert enc["item"].shape == (20,) and enc["hist.item"].shape == (20, 3)
    assert torch.equal(enc["item"], whole.encode(big)["item"])

"""MixtureOfCodes: complementary codebooks, collision suffix, views, reproducibility, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from semantic_ids.mixture import MixtureOfCodes, collision_suffix
from semantic_ids.stats import collision_rate, unique_rate


def test_collision_suffix_numbers_duplicates_in_row_order() -> None:
    codes = np.array([[1, 2], [1, 2], [0, 0], [1, 2], [0, 0], [3, 3]])
    np.testing.assert_array_equal(collision_suffix(codes), [0, 1, 0, 2, 1, 0])


def test_suffix_makes_every_tuple_unique(clustered: np.ndarray) -> None:
    x = np.concatenate([clustered, clustered[:50]])  # exact duplicates always collide
    plain = MixtureOfCodes(16, 2, 2, 3, seed=0).fit(x)
    codes = plain.encode(x)
    assert codes.shape == (len(x), 2, 2)
    assert all(collision_rate(codes[:, c]) > 0.5 for c in range(2))
    with_suffix = MixtureOfCodes(16, 2, 2, 3, suffix=True, seed=0).fit(x)
    suffixed = with_suffix.encode(x)
    assert suffixed.shape == (len(x), 2, 3)
    np.testing.assert_array_equal(suffixed[..., :2], codes)
    for c in range(2):
        assert collision_rate(suffixed[:, c]) == 0.0
        assert (suffixed[len(clustered) :, c, 2] > suffixed[:50, c, 2]).all()  # later duplicates get higher numbers


@pytest.mark.parametrize("view_dim", [None, 8])
def test_codebooks_complement_each_other(view_dim: int | None) -> None:
    x = np.random.default_rng(0).normal(size=(600, 16)).astype(np.float32)
    codes = MixtureOfCodes(16, 3, 2, 3, view_dim=view_dim, seed=0).fit(x).encode(x)  # 64 tuples per codebook
    singles = [unique_rate(codes[:, c : c + 1]) for c in range(3)]
    assert max(singles) < 0.05
    assert unique_rate(codes[:, :2]) > max(singles) + 0.3
    assert unique_rate(codes) > unique_rate(codes[:, :2]) and unique_rate(codes) > 0.8


def test_views_are_orthonormal_and_decode_lives_in_them(clustered: np.ndarray) -> None:
    rotation = MixtureOfCodes(16, 2, 2, 4, seed=0).fit(clustered)
    np.testing.assert_allclose(
        np.linalg.norm(rotation.view(clustered, 1), axis=1), np.linalg.norm(clustered, axis=1), rtol=1e-4
    )
    codes = rotation.encode(clustered)
    for c in range(2):
        view = rotation.view(clustered, c)
        x_hat = rotation.decode(codes, c)
        assert x_hat.shape == view.shape
        assert np.square(view - x_hat).sum() < 0.3 * np.square(view).sum()
    projection = MixtureOfCodes(16, 2, 2, 4, view_dim=6, seed=0).fit(clustered)
    assert projection.decode(projection.encode(clustered), 0).shape == (len(clustered), 6)


def test_same_seed_same_codes(clustered: np.ndarray) -> None:
    def codes(seed: int) -> np.ndarray:
        return MixtureOfCodes(16, 2, 2, 4, view_dim=12, train_size=400, seed=seed).fit(clustered).encode(clustered)

    np.testing.assert_array_equal(codes(11), codes(11))
    assert (codes(11) != codes(12)).any()


@pytest.mark.parametrize("view_dim", [None, 10])
def test_save_load_encodes_identically(clustered: np.ndarray, tmp_path, view_dim: int | None) -> None:
    moc = MixtureOfCodes(16, 3, 2, 4, view_dim=view_dim, suffix=True, seed=3).fit(clustered)
    moc.save(tmp_path / "moc")
    assert not list((tmp_path / "moc").rglob("*.pkl"))
    loaded = MixtureOfCodes.load(tmp_path / "moc")
    assert loaded.settings() == moc.settings()
    codes = moc.encode(clustered)
    np.testing.assert_array_equal(loaded.encode(clustered), codes)
    np.testing.assert_array_equal(loaded.decode(codes, 2), moc.decode(codes, 2))


def test_stats_report_is_consistent(clustered: np.ndarray) -> None:
    moc = MixtureOfCodes(16, 2, 2, 4, seed=0, batch_size=100).fit(clustered)
    codes = moc.encode(clustered)
    report = moc.stats(clustered, codes)
    assert report["n_items"] == len(clustered) and len(report["codebooks"]) == 2
    view, x_hat = moc.view(clustered, 1), moc.decode(codes, 1)
    expected = np.square(view.astype(np.float64) - x_hat).mean()
    assert report["codebooks"][1]["reconstruction"]["mse"] == pytest.approx(expected, rel=1e-6)
    assert report["unique_rate"] == unique_rate(codes)

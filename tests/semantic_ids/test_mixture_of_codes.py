"""MixtureOfCodes: complementary codebooks, views, bootstrap samples, auto code size, collision suffix,
reproducibility, save/load."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from semantic_ids.mixture import MixtureOfCodes, auto_nbits, collision_suffix
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
    rotation = MixtureOfCodes(16, 2, 2, 4, views="rotation", seed=0).fit(clustered)
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


def _matrix(view: faiss.LinearTransform) -> np.ndarray:
    return faiss.vector_to_array(view.A).reshape(view.d_out, view.d_in)


def test_default_views_are_distinct_half_width_projections() -> None:
    moc = MixtureOfCodes(16, 3, 2, 3, seed=0)
    assert moc.views_kind == "projection" and moc.view_dim == 8
    a = [_matrix(v) for v in moc.views]
    for m in a:
        np.testing.assert_allclose(m @ m.T, np.eye(8), atol=1e-5)  # orthonormal rows
    # different subspaces: the projection of one view's basis onto another's keeps about half its energy, not all
    overlap = np.square(a[0] @ a[1].T).sum() / 8
    assert 0.2 < overlap < 0.8
    assert MixtureOfCodes(16, 1, 2, 3).views_kind == "rotation"  # one codebook keeps every dimension


def test_slice_views_are_disjoint(clustered: np.ndarray) -> None:
    moc = MixtureOfCodes(16, 3, 2, 3, views="slice", seed=0)
    assert moc.view_dim == 5
    for c in range(3):
        np.testing.assert_array_equal(moc.view(clustered, c), clustered[:, 5 * c : 5 * c + 5])
    with pytest.raises(ValueError, match="view_dim"):
        MixtureOfCodes(16, 3, 2, 3, views="slice", view_dim=6)


def test_each_codebook_fits_its_own_seeded_bootstrap_sample() -> None:
    moc = MixtureOfCodes(16, 3, 2, 3, train_size=500, seed=0)
    rows = [moc.training_rows(800, c) for c in range(3)]
    for r in rows:
        assert len(r) == 500 and len(np.unique(r)) < 500  # drawn with replacement
    assert all(not np.array_equal(rows[i], rows[j]) for i in range(3) for j in range(i))
    again = MixtureOfCodes(16, 3, 2, 3, train_size=500, seed=0)
    np.testing.assert_array_equal(again.training_rows(800, 2), rows[2])
    assert len(MixtureOfCodes(16, 3, 2, 3, seed=0).training_rows(800, 0)) == 800  # min(n, train_size)
    assert MixtureOfCodes(16, 3, 2, 3, bootstrap=False).training_rows(800, 0) is None


def test_codebooks_partition_real_items_differently(ml100k_text_embeddings: np.ndarray) -> None:
    """Rotated views of the same rows give codebooks that agree far more than projections on bootstrap samples."""
    x = ml100k_text_embeddings

    def agreement(**kwargs) -> float:
        moc = MixtureOfCodes(x.shape[1], 3, 3, "auto", seed=0, **kwargs).fit(x)
        return moc.stats(x, moc.encode(x))["agreement"]["first_level_mean"]

    same_rows_rotated = agreement(views="rotation", bootstrap=False)  # the former design
    default = agreement()
    assert default < 0.3 and default < 0.6 * same_rows_rotated
    assert agreement(views="slice") < 0.6 * same_rows_rotated


def test_auto_nbits_rule() -> None:
    assert auto_nbits(1682) == 5  # ml-100k: 32 codes per level, ~53 items per code
    assert auto_nbits(100_000) == 8 and auto_nbits(10_000) == 7
    assert auto_nbits(624) == 4  # log2(624) / 2 rounds to 5, but 32 centroids would get < 39 points each
    assert auto_nbits(78) == 1
    with pytest.raises(ValueError, match="at least 78 rows"):
        auto_nbits(77)


def test_auto_nbits_fits_ml100k_without_faiss_warnings(ml100k_text_embeddings: np.ndarray, capfd, tmp_path) -> None:
    x = ml100k_text_embeddings
    moc = MixtureOfCodes(x.shape[1], 2, 3, "auto", seed=0)
    with pytest.raises(RuntimeError, match="fit"):
        moc.codes_per_level
    moc.fit(x)
    assert moc.nbits == auto_nbits(len(x)) == 5 and moc.encode(x).max() < 32
    assert "WARNING clustering" not in capfd.readouterr().err
    MixtureOfCodes(x.shape[1], 1, 1, 8, seed=0).fit(x)  # 256 centroids over 1,682 rows: FAISS does warn
    assert "WARNING clustering" in capfd.readouterr().err
    moc.save(tmp_path / "moc")
    assert MixtureOfCodes.load(tmp_path / "moc").settings()["nbits"] == 5

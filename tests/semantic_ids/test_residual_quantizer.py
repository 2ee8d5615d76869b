"""ResidualQuantizer: code layout, reproducibility, accuracy with depth, streaming, save/load."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from semantic_ids.residual import ResidualQuantizer, unpack_codes


def relative_error(x: np.ndarray, x_hat: np.ndarray) -> float:
    return float(np.square(x - x_hat).sum() / np.square(x).sum())


@pytest.mark.parametrize("nbits", [3, 8, 11])
def test_unpack_matches_faiss_bitstring_layout(nbits: int) -> None:
    levels, n = 5, 50
    codes = np.random.default_rng(nbits).integers(0, 1 << nbits, size=(n, levels))
    code_size = (levels * nbits + 7) // 8
    packed = np.zeros((n, code_size), dtype=np.uint8)
    for row, values in zip(packed, codes):
        writer = faiss.BitstringWriter(faiss.swig_ptr(row), code_size)
        for value in values:
            writer.write(int(value), nbits)
    np.testing.assert_array_equal(unpack_codes(packed, levels, nbits), codes)


@pytest.mark.parametrize("nbits", [5, 8])
def test_codes_and_decode_agree_with_faiss_own_path(clustered: np.ndarray, nbits: int) -> None:
    q = ResidualQuantizer(16, 2, nbits, refine=False).fit(clustered)
    codes = q.encode(clustered)
    assert codes.dtype == np.int64 and codes.shape == (len(clustered), 2)
    assert codes.min() >= 0 and codes.max() < 1 << nbits
    np.testing.assert_allclose(q.decode(codes), q.index.sa_decode(q.index.sa_encode(clustered)), atol=1e-5)


def test_same_seed_same_codes_other_seed_other_codes(clustered: np.ndarray) -> None:
    def codes(seed: int) -> np.ndarray:
        return ResidualQuantizer(16, 2, 4, train_size=500, seed=seed).fit(clustered).encode(clustered)

    np.testing.assert_array_equal(codes(3), codes(3))
    assert (codes(3) != codes(4)).any()


def test_error_falls_as_levels_grow(clustered: np.ndarray) -> None:
    errors = []
    for levels in (1, 2, 3):
        q = ResidualQuantizer(16, levels, 4, seed=1).fit(clustered)
        errors.append(relative_error(clustered, q.decode(q.encode(clustered))))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.5 * errors[0]


def test_wider_encoding_beam_does_not_hurt(clustered: np.ndarray) -> None:
    q = ResidualQuantizer(16, 3, 4, max_beam_size=1, seed=1).fit(clustered)
    greedy = relative_error(clustered, q.decode(q.encode(clustered)))
    q.max_beam_size = 8
    assert relative_error(clustered, q.decode(q.encode(clustered))) <= greedy


def test_codebook_refinement_lowers_error(clustered: np.ndarray) -> None:
    # on average over seeds: a single seed can go either way by ~0.005 (one did here)
    def error(refine: bool, seed: int) -> float:
        q = ResidualQuantizer(16, 3, 4, refine=refine, seed=seed).fit(clustered)
        return relative_error(clustered, q.decode(q.encode(clustered)))

    gains = [error(False, seed) - error(True, seed) for seed in range(8)]
    assert np.mean(gains) > 0.005 and sum(g > 0 for g in gains) >= 6


def test_streaming_batches_give_the_same_codes(clustered: np.ndarray, tmp_path) -> None:
    q = ResidualQuantizer(16, 2, 4, batch_size=10_000).fit(clustered)
    small = ResidualQuantizer(16, 2, 4, batch_size=37)
    small.index = q.index
    np.testing.assert_array_equal(small.encode(clustered), q.encode(clustered))
    np.testing.assert_array_equal(small.decode(q.encode(clustered)), q.decode(q.encode(clustered)))
    memmap = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=clustered.shape)
    memmap[:] = clustered
    np.testing.assert_array_equal(small.encode(memmap), q.encode(clustered))


def test_train_size_sample_is_seeded(clustered: np.ndarray) -> None:
    a = ResidualQuantizer(16, 1, 4, train_size=100, seed=5).fit(clustered)
    b = ResidualQuantizer(16, 1, 4, train_size=100, seed=5).fit(clustered)
    full = ResidualQuantizer(16, 1, 4, seed=5).fit(clustered)
    np.testing.assert_array_equal(a.encode(clustered), b.encode(clustered))
    assert (a.encode(clustered) != full.encode(clustered)).any()


def test_save_load_encodes_identically(clustered: np.ndarray, tmp_path) -> None:
    q = ResidualQuantizer(16, 3, 4, max_beam_size=7, seed=2).fit(clustered)
    q.save(tmp_path / "rq")
    loaded = ResidualQuantizer.load(tmp_path / "rq")
    assert loaded.settings() == q.settings() and loaded.index.rq.max_beam_size == 7
    np.testing.assert_array_equal(loaded.encode(clustered), q.encode(clustered))
    np.testing.assert_array_equal(loaded.decode(q.encode(clustered)), q.decode(q.encode(clustered)))
    loaded.max_beam_size = 2
    assert loaded.index.rq.max_beam_size == 2 and loaded.settings()["max_beam_size"] == 2


def test_clear_errors(clustered: np.ndarray) -> None:
    with pytest.raises(RuntimeError, match="not trained"):
        ResidualQuantizer(16, 2, 4).encode(clustered)
    with pytest.raises(ValueError, match="at least 256"):
        ResidualQuantizer(16, 2, 8).fit(clustered[:100])
    q = ResidualQuantizer(16, 2, 4).fit(clustered)
    with pytest.raises(ValueError, match=r"\(n, 16\)"):
        q.encode(clustered[:, :8])
    with pytest.raises(ValueError, match=r"\[0, 16\)"):
        q.decode(np.full((2, 2), 16))


def test_kmeans_restarts_keep_a_level_from_collapsing_onto_one_code() -> None:
    # 40 noisy clusters, 3 levels x 32 codes: single k-means runs leave some seeds with one code holding a large
    # share of the items at a level (up to 48 % here); the best of several runs per level does not
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((40, 64))[rng.integers(0, 40, 1200)] + 0.3 * rng.standard_normal((1200, 64)))
    x = x.astype(np.float32)

    def worst_share(nredo: int) -> float:
        shares = []
        for seed in range(8):
            codes = ResidualQuantizer(64, 3, 5, nredo=nredo, seed=seed).fit(x).encode(x)
            shares.append(max(np.bincount(codes[:, level]).max() for level in range(3)) / len(x))
        return max(shares)

    assert ResidualQuantizer(64).nredo == 5  # the default restarts
    assert worst_share(1) > 0.4 and worst_share(5) < 0.3

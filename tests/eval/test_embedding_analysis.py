"""Embedding analysis: planted collapse is found, isotropy matches random-matrix theory, the formulas match hand
computations, and gradient cosines behave at their two ends (identical tasks = 1, disjoint rows = 0)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mmrec.eval import embedding_analysis
from mmrec.eval.embedding_analysis import (
    analyse_tables,
    effective_rank,
    entanglement,
    entropy,
    field_correlation,
    field_mutual_information,
    find_embedding_tables,
    gradient_cosine,
    information_abundance,
    lookup_counts,
    mutual_information,
    normalised_spectrum,
    singular_values,
)
from mmrec.eval.embedding_section import plot_correlation_vs_mi, plot_spectra


def _mp_expected_ia(n: int, d: int) -> float:
    """Expected IA of an (n, d) standard Gaussian table from the Marchenko-Pastur law: d E[√λ] / (1 + √(d/n))."""
    g = d / n
    a, b = (1 - g ** 0.5) ** 2, (1 + g ** 0.5) ** 2
    lam = np.linspace(a, b, 200_001)[1:-1]
    density = np.sqrt((b - lam) * (lam - a)) / (2 * np.pi * g * lam)
    return d * np.trapezoid(np.sqrt(lam) * density, lam) / (1 + g ** 0.5)


def test_planted_rank_two_table_has_low_ia_and_a_fast_decaying_spectrum():
    g = torch.Generator().manual_seed(0)
    table = torch.randn(2000, 2, generator=g) @ torch.randn(2, 16, generator=g) + 1e-3 * torch.randn(2000, 16,
                                                                                                     generator=g)
    stats = analyse_tables({"collapsed": table})["collapsed"]["table"]
    assert 1.0 <= stats["information_abundance"] < 2.1  # two directions at most, plus the 1e-3 noise floor
    assert stats["effective_rank"] < 2.1
    spectrum = stats["spectrum"]
    assert spectrum[1] > 0.05 and max(spectrum[2:]) < 0.01  # a cliff after the planted rank


def test_isotropic_gaussian_table_has_the_expected_ia_and_a_flat_spectrum():
    n, d = 4000, 16
    expected = _mp_expected_ia(n, d)  # 15.04; over 20 seeds the sample IA was 15.13 ± 0.10
    for seed in range(3):
        sigma = singular_values(np.random.default_rng(seed).normal(size=(n, d)))
        assert information_abundance(sigma) == pytest.approx(expected, abs=0.4)
        flat_floor = (1 - (d / n) ** 0.5) / (1 + (d / n) ** 0.5)  # the MP edges' ratio, 0.88
        assert normalised_spectrum(sigma)[-1] > flat_floor - 0.05


def test_effective_rank_and_ia_of_a_diagonal_table_by_hand():
    sigma = singular_values(np.diag([4.0, 2.0, 1.0, 1.0]))
    assert sigma == pytest.approx([4, 2, 1, 1])
    assert information_abundance(sigma) == pytest.approx(8 / 4)
    # p = (1/2, 1/4, 1/8, 1/8): H = 1.75 ln 2, exp(H) = 2^1.75
    assert effective_rank(sigma) == pytest.approx(2 ** 1.75)
    assert effective_rank(np.ones(5)) == pytest.approx(5.0) and effective_rank(np.zeros(3)) == 0.0


def test_chunked_gram_spectrum_matches_a_direct_svd(monkeypatch):
    table = np.random.default_rng(2).normal(size=(50, 6)) * np.array([5, 3, 2, 1, 0.1, 0.001])
    monkeypatch.setattr(embedding_analysis, "CHUNK_ROWS", 7)  # 50 rows in 8 chunks, the last one short
    assert singular_values(torch.from_numpy(table).float()) == pytest.approx(
        np.linalg.svd(table, compute_uv=False), rel=1e-5)


def test_count_weighted_spectrum_equals_the_spectrum_of_the_looked_up_rows():
    g = torch.Generator().manual_seed(1)
    table = torch.randn(10, 4, generator=g)
    lookups = torch.tensor([[1, 1, 1, 2], [2, 5, 0, 0], [9, 9, 9, 9]])  # 0 = padding, ignored
    counts = lookup_counts(lookups, 10)
    assert counts.tolist() == [0, 3, 2, 0, 0, 1, 0, 0, 0, 4]
    rows = table[lookups[lookups > 0]]
    expected = np.linalg.svd(rows.double().numpy(), compute_uv=False) / np.sqrt(len(rows))
    assert singular_values(table, counts) == pytest.approx(expected, rel=1e-9)
    stats = analyse_tables({"t": table}, {"t": lookups})["t"]
    assert stats["batch"]["rows"] == 4 and stats["table"]["rows"] == 10 and stats["batch"]["max_rank"] == 4
    with pytest.raises(ValueError, match="outside the table's 10 rows"):
        lookup_counts(torch.tensor([3, 10]), 10)


def test_mutual_information_of_independent_and_identical_fields():
    rng = np.random.default_rng(0)
    n, k = 20_000, 6
    x, y = rng.integers(0, k, n), rng.integers(0, k, n)
    bias = (k - 1) ** 2 / (2 * n)  # the plug-in estimator's expected value for independent fields
    assert mutual_information(x, y) < 4 * bias
    assert mutual_information(x, x) == pytest.approx(entropy(x), rel=1e-12)
    assert entropy(x) == pytest.approx(np.log(k), abs=0.01)
    relabelled = (x * 7 + 3) % 11  # a bijection of the values keeps all the information
    mi = field_mutual_information({"x": x, "y": y, "x'": relabelled})
    assert mi["fields"] == ["x", "y", "x'"] and mi["matrix"][0][2] == pytest.approx(entropy(x))
    assert abs(mi["adjusted"][0][1]) < bias and mi["adjusted"][0][2] == pytest.approx(entropy(x), abs=2 * bias)


def test_shuffle_adjusted_mi_removes_the_bias_of_high_cardinality_pairs():
    rng = np.random.default_rng(1)
    users, items = rng.integers(0, 900, 5000), rng.integers(0, 1500, 5000)  # independent, joint support ~ n
    mi = field_mutual_information({"user": users, "item": items})
    assert mi["matrix"][0][1] > 2.0  # the plug-in estimate: almost every pair is unique
    assert abs(mi["adjusted"][0][1]) < 0.05
    with pytest.raises(ValueError, match="equal, non-zero length"):
        mutual_information(users, items[:-1])


def test_field_correlation_finds_aligned_fields_and_sits_at_chance_for_random_ones():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(5000, 16, generator=g)
    corr = field_correlation({"a": a, "scaled": -3 * a, "random": torch.randn(5000, 16, generator=g)})
    m = np.array(corr["matrix"])
    assert m[0, 1] == pytest.approx(1.0) and m[0, 0] == pytest.approx(1.0)
    assert m[0, 2] == pytest.approx(corr["chance"], abs=0.02)  # √(2 / 16π) = 0.199
    with pytest.raises(ValueError, match="one shape"):
        field_correlation({"a": a, "b": a[:, :8]})


def test_gradient_cosine_identical_losses_one_disjoint_rows_zero():
    torch.manual_seed(0)
    table = nn.Parameter(torch.randn(20, 8))
    target = torch.randn(8)

    def loss_on(rows):
        return lambda: ((table[rows] - target) ** 2).sum()

    same = entanglement(table, {"a": loss_on(torch.arange(10)), "b": loss_on(torch.arange(10))})
    assert np.array(same["matrix"]) == pytest.approx(np.ones((2, 2)))
    disjoint = entanglement(table, {"low": loss_on(torch.arange(10)), "high": loss_on(torch.arange(10, 20)),
                                    "flipped": lambda: -loss_on(torch.arange(10))()})
    m = np.array(disjoint["matrix"], dtype=float)
    assert m[0, 1] == pytest.approx(0.0, abs=1e-12) and m[0, 2] == pytest.approx(-1.0)
    assert table.grad is None  # the table's .grad is left alone
    assert gradient_cosine({"a": torch.ones(3), "none": torch.zeros(3)})["matrix"][0][1] is None


class _TwoTowers(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.ModuleDict({"user": nn.Embedding(5, 4), "age": nn.Embedding(3, 4)})
        self.fields = nn.ModuleList([nn.Embedding(4, 4), nn.EmbeddingBag(6, 4)])
        self.item_repr = nn.Module()
        self.item_repr.weight = nn.Embedding(7, 4)
        self.tied = self.features["user"]  # one table under two paths: reported once


def test_find_embedding_tables_gives_readable_unique_names():
    model = _TwoTowers()
    tables = find_embedding_tables(model)
    assert list(tables) == ["user", "age", "fields.0", "fields.1", "item_repr"]
    assert tables["item_repr"] is model.item_repr.weight.weight
    renamed = find_embedding_tables(model, {"fields.0": "occupation"})
    assert "occupation" in renamed and "fields.0" not in renamed
    assert list(find_embedding_tables(nn.Embedding(3, 2))) == ["table"]


def test_plots_are_pngs_written_atomically(tmp_path):
    g = torch.Generator().manual_seed(0)
    analysis = analyse_tables({"a": torch.randn(50, 8, generator=g), "b": torch.randn(30, 8, generator=g)},
                              {"a": torch.randint(0, 50, (100,), generator=g)})
    data = plot_spectra(analysis, path=tmp_path / "spectra.png")
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "spectra.png").read_bytes() == data
    corr = field_correlation({"a": torch.randn(40, 8, generator=g), "b": torch.randn(40, 8, generator=g)})
    mi = field_mutual_information({"a": np.arange(40) % 3, "b": np.arange(40) % 5})
    plot_correlation_vs_mi(corr, mi, path=tmp_path / "corr.png")
    assert (tmp_path / "corr.png").read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []

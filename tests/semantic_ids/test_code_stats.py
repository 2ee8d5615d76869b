"""Code statistics against hand computations on a tiny code matrix."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from semantic_ids.stats import (
    adjusted_rand_index,
    codebook_agreement,
    codebook_stats,
    collision_rate,
    embedding_stats,
    error_sums,
    information_abundance,
    level_entropy,
    level_utilisation,
    mixture_stats,
    reconstruction_mse,
    singular_spectrum,
    unique_rate,
)

# six items, one codebook with two levels of four codes
CODES = np.array([[0, 1], [0, 1], [1, 2], [2, 3], [0, 0], [1, 2]])
# a second codebook that separates items 0 and 1 but not items 2 and 5
OTHER = np.array([[5, 5], [6, 6], [5, 5], [5, 5], [5, 5], [5, 5]])


def test_utilisation_and_entropy_by_hand() -> None:
    assert level_utilisation(CODES, 4) == [3 / 4, 4 / 4]
    h0 = -(0.5 * math.log2(0.5) + (2 / 6) * math.log2(2 / 6) + (1 / 6) * math.log2(1 / 6))
    h1 = -(2 * (2 / 6) * math.log2(2 / 6) + 2 * (1 / 6) * math.log2(1 / 6))
    assert level_entropy(CODES) == pytest.approx([h0, h1])
    assert level_entropy(np.zeros((5, 1), dtype=int)) == [0.0]


def test_collisions_and_unique_rate_by_hand() -> None:
    assert collision_rate(CODES) == pytest.approx(4 / 6)  # (0,1) twice, (1,2) twice
    mixture = np.stack([CODES, OTHER], axis=1)
    assert unique_rate(mixture) == pytest.approx(4 / 6)  # only items 2 and 5 still share everything
    assert unique_rate(CODES[:, None]) == pytest.approx(1 - collision_rate(CODES))


def test_reconstruction_by_hand_and_over_batches() -> None:
    x = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert reconstruction_mse(error_sums(x, np.zeros_like(x))) == {"mse": 1.25, "relative": 1.0}
    x_hat = np.array([[1.0, 1.0], [0.0, 1.0]])
    batched = error_sums(x[:1], x_hat[:1]) + error_sums(x[1:], x_hat[1:])
    assert reconstruction_mse(batched) == pytest.approx({"mse": 0.5, "relative": 0.4})


def test_spectrum_and_information_abundance_by_hand() -> None:
    table = np.zeros((5, 3))
    table[0, 0], table[1, 1] = 3.0, 1.0
    assert singular_spectrum(table) == pytest.approx([3.0, 1.0, 0.0])
    assert information_abundance(table) == pytest.approx(4 / 3)
    weight = torch.nn.Embedding(5, 3).weight  # a learned table that requires grad
    with torch.no_grad():
        weight.copy_(torch.as_tensor(table))
    assert information_abundance(weight) == pytest.approx(4 / 3)
    assert information_abundance(np.zeros((3, 2))) == 0.0
    assert embedding_stats({"cb0_l0": table})["cb0_l0"]["information_abundance"] == pytest.approx(4 / 3)


def test_reports_are_json_and_agree_with_parts() -> None:
    one = codebook_stats(CODES, 4)
    assert one == {
        "utilisation": level_utilisation(CODES, 4),
        "entropy_bits": level_entropy(CODES),
        "distinct_tuples": 4,
        "collision_rate": collision_rate(CODES),
    }
    rec = [{"mse": 1.0, "relative": 0.1}, {"mse": 2.0, "relative": 0.2}]
    report = mixture_stats(np.stack([CODES, OTHER], axis=1), 8, rec)
    assert report["codebooks"][1]["reconstruction"] == rec[1]
    assert report["codebooks"][1]["utilisation"] == [2 / 8, 2 / 8]
    assert report["unique_rate_first_n"] == [pytest.approx(2 / 6), pytest.approx(4 / 6)]
    assert report["agreement"] == codebook_agreement(np.stack([CODES, OTHER], axis=1))
    assert json.loads(json.dumps(report)) == report


def test_adjusted_rand_index_by_hand() -> None:
    assert adjusted_rand_index(np.array([0, 0, 1, 1, 2]), np.array([7, 7, 3, 3, 9])) == 1.0  # a relabelling
    # pairs together in both 2, in a 6, in b 3, of 15: (2 - 6 * 3 / 15) / ((6 + 3) / 2 - 6 * 3 / 15)
    a, b = np.array([0, 0, 0, 1, 1, 1]), np.array([0, 0, 1, 1, 2, 2])
    assert adjusted_rand_index(a, b) == pytest.approx(0.8 / 3.3)


def test_agreement_flags_relabelled_codebooks() -> None:
    relabelled = np.stack([CODES, (CODES + 1) % 4, OTHER], axis=1)
    agreement = codebook_agreement(relabelled)
    assert agreement["full_tuple_max"] == 1.0 and agreement["first_level_max"] == 1.0
    assert agreement["full_tuple_mean"] < 1.0
    assert codebook_agreement(CODES[:, None]) == {}

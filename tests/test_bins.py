"""Frequency bins: never-seen items in bin 0, equal-mass cuts over the rest, counts never split."""

import numpy as np

from mmrec.core.bins import FrequencyBins


def test_bin_zero_holds_never_seen_items_and_equal_mass_cuts():
    # index 0 = padding; items 1, 2 never seen; seen counts 1,1,1,1,2,2,4,8 (mass 20)
    counts = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 4, 8])
    bins = FrequencyBins.from_counts(counts, n_bins=2)
    # half the mass (10) is first reached at count 4 (cumulative 12): bins [0], [1, 4], [5, 8]
    assert bins.min_count.tolist() == [0, 1, 5]
    assert bins.max_count.tolist() == [0, 4, 8]
    assert bins.assign(counts[1:]).tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 1, 2]


def test_equal_mass_on_a_flat_catalogue():
    counts = np.concatenate([[0], np.full(100, 5)])
    bins = FrequencyBins.from_counts(counts, n_bins=10)
    # every seen item has the same count, so all cuts coincide: bin 0 + one bin
    assert len(bins) == 2 and bins.assign([5]).tolist() == [1]


def test_ranges_cover_every_count_contiguously():
    rng = np.random.default_rng(0)
    counts = np.concatenate([[0], rng.zipf(1.5, size=500) - 1])
    bins = FrequencyBins.from_counts(counts, n_bins=10)
    assert (bins.min_count[2:] == bins.max_count[1:-1] + 1).all()
    assigned = bins.assign(counts[1:])
    for b in range(len(bins)):
        members = counts[1:][assigned == b]
        assert ((members >= bins.min_count[b]) & (members <= bins.max_count[b])).all()
    # equal mass up to one count group: without the items at its top count, a bin holds < 1/n_bins of the mass
    for b in range(1, len(bins)):
        below_top = counts[1:][(assigned == b) & (counts[1:] < bins.max_count[b])].sum() / counts.sum()
        assert below_top < 1 / 10


def test_describe_flags_noisy_bins():
    counts = np.array([0, 0, 3, 3, 3])
    rows = FrequencyBins.from_counts(counts, 10).describe(counts, targets=np.array([1] * 40 + [2] * 5))
    assert rows[0]["n_targets"] == 40 and not rows[0]["noisy"]
    assert rows[1]["n_targets"] == 5 and rows[1]["noisy"] and rows[1]["n_items"] == 3

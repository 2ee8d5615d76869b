"""Item-frequency bins for the cold breakdown (EVALUATION.md).

Bin 0 holds the items never seen in training; the seen items are cut by their training count into up to
``n_bins`` bins of (near) equal interaction mass. Cuts fall between distinct counts, so items with the same
count always share a bin; when one count alone carries more than a bin's mass, neighbouring cuts coincide and
fewer bins come out.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class FrequencyBins:
    """Count ranges of each bin: bin b holds items with ``min_count[b] <= count <= max_count[b]``."""

    min_count: np.ndarray
    max_count: np.ndarray

    def __len__(self) -> int:
        return len(self.min_count)

    def assign(self, counts: np.ndarray) -> np.ndarray:
        """Bin index of each count."""
        return np.searchsorted(self.max_count, np.asarray(counts), side="left")

    @classmethod
    def from_counts(cls, counts: np.ndarray, n_bins: int = 10) -> "FrequencyBins":
        """``counts``: training count per item index 0..N (index 0, the padding, is ignored)."""
        seen = np.sort(np.asarray(counts)[1:][np.asarray(counts)[1:] > 0])
        mins, maxs = [0], [0]
        if len(seen):
            mass = np.cumsum(seen) / seen.sum()  # share of interactions on items with count <= seen[i]
            # the smallest count whose cumulative mass reaches each 1/n_bins step closes a bin
            uppers = np.unique(np.append(seen[np.searchsorted(mass, np.arange(1, n_bins) / n_bins)], seen[-1]))
            lowers = np.concatenate([[seen[0]], uppers[:-1] + 1])
            mins += lowers.tolist()
            maxs += uppers.tolist()
        return cls(np.asarray(mins, dtype=np.int64), np.asarray(maxs, dtype=np.int64))

    def describe(self, counts: np.ndarray, targets: np.ndarray, noisy_below: int = 30) -> list[dict]:
        """Per bin: its count range, how many items and how many targets fall in it, and the noisy flag."""
        item_bins = self.assign(np.asarray(counts)[1:])
        target_bins = self.assign(np.asarray(counts)[np.asarray(targets)])
        out = []
        for b in range(len(self)):
            n_targets = int((target_bins == b).sum())
            out.append({"bin": b, "min_count": int(self.min_count[b]), "max_count": int(self.max_count[b]),
                        "n_items": int((item_bins == b).sum()), "n_targets": n_targets,
                        "noisy": n_targets < noisy_below})
        return out

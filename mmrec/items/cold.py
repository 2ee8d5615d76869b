"""Cold items: which items are served without their ID row, at training and at evaluation time.

At evaluation the cold items are the never-seen ones. While training, a fresh random ``dropout`` share of the
others goes through the cold path too, so that path (and the never-seen bin of a frequency gate) is trained
instead of left at its initialisation.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def never_seen_mask(item_counts: np.ndarray) -> torch.Tensor:
    """(N + 1,) bool: items with no training interaction (index 0, padding, is not an item)."""
    mask = torch.from_numpy(np.asarray(item_counts) == 0)
    mask[0] = False
    return mask


def sample_cold(never_seen: torch.Tensor, dropout: float, training: bool) -> torch.Tensor:
    """The never-seen items, plus (while training) a random ``dropout`` share of the others; never index 0."""
    cold = never_seen.clone()
    if training and dropout > 0:
        cold |= torch.rand(cold.shape, device=cold.device) < dropout
        cold[0] = False
    return cold


class ColdItemsMixin:
    """For models over cold-aware item representations (``cold`` and ``hidden`` masks).

    Training: never-seen items are hidden (outside the catalogue, zero vectors) and a fresh random
    ``cold_dropout`` share of the others goes through the cold path. Evaluation: the never-seen items are
    the cold ones, and nothing is hidden.
    """

    never_seen: torch.Tensor
    cold_dropout: float

    def cold_reprs(self) -> list[nn.Module]:
        raise NotImplementedError

    def _set_masks(self, cold: torch.Tensor, hidden: torch.Tensor) -> None:
        for r in self.cold_reprs():
            r.cold.copy_(cold)
            if hasattr(r, "hidden"):
                r.hidden.copy_(hidden)

    def resample_cold(self) -> None:
        cold = sample_cold(self.never_seen, self.cold_dropout, self.training)
        self._set_masks(cold, self.never_seen if self.training else torch.zeros_like(cold))

    def train(self, mode: bool = True):
        super().train(mode)  # type: ignore[misc]
        self.resample_cold()
        return self

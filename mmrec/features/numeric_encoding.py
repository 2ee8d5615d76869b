"""Embeddings of a numeric field other than value × vector: equal-width buckets, and MNSE (multi-base digits).

Both start from the value's place in the train range, u = (raw − min) / (max − min) ∈ [0, 1], recovered from the
normalised value and the fitted statistics (the feature map's min / max are in the normaliser's space, log
included). ``bucket``: bin ⌊u·buckets⌋, one embedding per bin. ``mnse`` (the Tencent ads paper, ZOO.md §2):
n = ⌊u·levels⌋ written in each base b (as many digits as b needs to reach ``levels``); each (base, position,
digit) has an embedding, the digits of one base are sum-pooled, and the per-base vectors are concatenated and
projected to the field's dimension. Nearby values share their high digits and two values across a coarse bin
edge share little, so a sharp threshold anywhere in the range is reachable, which a bin cannot resolve.
"""

from __future__ import annotations

import torch
from torch import nn

from mmrec.features.feature_map import Entry


def unit_interval(x: torch.Tensor, entry: Entry) -> torch.Tensor:
    """Normalised values -> their place in the train range [0, 1] (clamped; unseen extremes land at the ends)."""
    s = entry.stats
    raw = x if entry.normaliser == "minmax" else x * s["std"] + s["mean"]
    if entry.normaliser != "minmax":
        raw = (raw - s["min"]) / ((s["max"] - s["min"]) or 1.0)
    return raw.clamp(0.0, 1.0)


def digits_needed(base: int, levels: int) -> int:
    """Digits of base ``base`` that write every integer in [0, levels)."""
    count, reach = 1, base
    while reach < levels:
        count, reach = count + 1, reach * base
    return count


class NumericEncoder(nn.Module):
    """(B,) normalised values of one field -> (B, d) embeddings, by its ``bucket`` or ``mnse`` encoding."""

    def __init__(self, entry: Entry, dim: int):
        super().__init__()
        self.entry, self.encoding = entry, entry.encoding
        if self.encoding == "bucket":
            self.table = nn.Embedding(entry.buckets, dim)
            self.project = None
            return
        divisors, moduli, rows, slot = [], [], [], []
        offset = 0
        for i, base in enumerate(entry.bases):
            for position in range(digits_needed(base, entry.levels)):
                divisors.append(base ** position)
                moduli.append(base)
                rows.append(offset + position * base)
                slot.append(i)
            offset += digits_needed(base, entry.levels) * base
        self.register_buffer("divisors", torch.tensor(divisors).long(), persistent=False)
        self.register_buffer("moduli", torch.tensor(moduli).long(), persistent=False)
        self.register_buffer("rows", torch.tensor(rows).long(), persistent=False)
        self.register_buffer("slot", torch.tensor(slot).long(), persistent=False)
        self.table = nn.Embedding(offset, dim)
        self.project = nn.Linear(len(entry.bases) * dim, dim, bias=False)
        nn.init.xavier_normal_(self.project.weight)

    def index(self, x: torch.Tensor) -> torch.Tensor:
        """Bucket: (B,) bin; MNSE: (B, P) table rows of every (base, position, digit)."""
        u = unit_interval(x, self.entry)
        if self.encoding == "bucket":
            return (u * self.entry.buckets).long().clamp(max=self.entry.buckets - 1)
        n = (u * self.entry.levels).long().clamp(max=self.entry.levels - 1)
        return self.rows + (n.unsqueeze(1) // self.divisors) % self.moduli

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        vectors = self.table(self.index(x))
        if self.project is None:
            return vectors
        per_base = vectors.new_zeros(x.shape[0], len(self.entry.bases), vectors.shape[-1])
        per_base.index_add_(1, self.slot, vectors)  # sum-pool the digits of each base
        return self.project(per_base.flatten(1))

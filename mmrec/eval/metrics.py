"""Full-ranking metrics: every item is a candidate, the user's known items are masked, ranks are exact.

Rank of the target = the number of unmasked items scored *strictly higher* than it (0 = top). Ties therefore
count in the target's favour ("optimistic"); ``ties="pessimistic"`` counts equal scores against it instead.
The target itself is never masked, even when it also appears in the history (re-consumption datasets), and
padding (column 0) is never a candidate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch

from mmrec.core.sequences import left_pad

Ties = Literal["optimistic", "pessimistic"]


@dataclasses.dataclass
class RankingCases:
    """Evaluation cases prepared once: padded model input, the mask of known items, the targets."""

    histories: torch.Tensor  # (C, L) left-padded model input
    mask_rows: torch.Tensor  # (M,) case index of each masked (case, item) pair
    mask_items: torch.Tensor  # (M,)
    mask_offsets: np.ndarray  # (C + 1,) case c's pairs are [offsets[c], offsets[c + 1])
    targets: torch.Tensor  # (C,)

    def __len__(self) -> int:
        return len(self.targets)

    @classmethod
    def build(cls, histories: list[np.ndarray], targets: np.ndarray, known: list[np.ndarray] | None = None,
              max_len: int | None = None) -> "RankingCases":
        """``known[c]``: extra items masked for case c (e.g. the user's training sequence) besides its history."""
        masked = [np.unique(np.concatenate([h, known[c]]) if known is not None else h).astype(np.int64)
                  for c, h in enumerate(histories)]
        sizes = np.fromiter((len(m) for m in masked), dtype=np.int64, count=len(masked))
        rows = np.repeat(np.arange(len(masked)), sizes)
        items = np.concatenate(masked) if sizes.sum() else np.zeros(0, np.int64)
        return cls(left_pad(histories, max_len), torch.from_numpy(rows), torch.from_numpy(items),
                   np.concatenate([[0], np.cumsum(sizes)]), torch.as_tensor(np.asarray(targets), dtype=torch.long))

    def with_max_len(self, max_len: int | None) -> "RankingCases":
        """Same cases, model input cut to the last ``max_len`` items (None: as built)."""
        if max_len is None or max_len >= self.histories.shape[1]:
            return self
        return dataclasses.replace(self, histories=self.histories[:, -max_len:])


def target_ranks(scores: torch.Tensor, targets: torch.Tensor, mask_rows: torch.Tensor, mask_items: torch.Tensor,
                 ties: Ties = "optimistic") -> torch.Tensor:
    """0-based rank of each target among unmasked items. scores (B, N + 1); mask pairs index rows of this batch."""
    target_score = scores.gather(1, targets[:, None])
    known = torch.zeros_like(scores, dtype=torch.bool)
    known[mask_rows, mask_items] = True
    known[:, 0] = True
    known[torch.arange(len(targets)), targets] = True  # excluded from the count: it is the item being ranked
    candidates = scores.masked_fill(known, -torch.inf)
    higher = (candidates > target_score).sum(1)
    if ties == "pessimistic":
        higher = higher + (candidates == target_score).sum(1)
    return higher


def rank_all(score: Callable[[torch.Tensor], torch.Tensor], cases: RankingCases, batch_size: int = 1024,
             ties: Ties = "optimistic", device: torch.device | str = "cpu") -> np.ndarray:
    """Ranks of every case's target, scored in batches without gradients on ``device`` (the model's)."""
    out = []
    with torch.no_grad():
        for start in range(0, len(cases), batch_size):
            stop = min(start + batch_size, len(cases))
            lo, hi = int(cases.mask_offsets[start]), int(cases.mask_offsets[stop])
            scores = score(cases.histories[start:stop].to(device)).float()
            out.append(target_ranks(scores, cases.targets[start:stop].to(device),
                                    (cases.mask_rows[lo:hi] - start).to(device), cases.mask_items[lo:hi].to(device),
                                    ties))
    return torch.cat(out).cpu().numpy() if out else np.zeros(0, dtype=np.int64)


def metrics_from_ranks(ranks: np.ndarray, ks: list[int]) -> dict[str, float]:
    """HR@K, NDCG@K, MRR@K averaged over cases (one relevant item per case); NaN-free: empty -> 0 with n=0."""
    ranks = np.asarray(ranks)
    out: dict[str, float] = {}
    for k in ks:
        hit = ranks < k
        n = max(len(ranks), 1)
        out[f"HR@{k}"] = float(hit.sum() / n)
        out[f"NDCG@{k}"] = float((hit / np.log2(ranks + 2.0)).sum() / n)
        out[f"MRR@{k}"] = float((hit / (ranks + 1.0)).sum() / n)
    return out

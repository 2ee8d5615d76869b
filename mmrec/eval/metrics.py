"""Full-ranking metrics: every item is a candidate, the user's known items are masked, ranks are exact.

Rank of the target (0 = top) = the number of unmasked items scored strictly higher than it, plus a share of the
items scored exactly as high (ties, e.g. items with identical vectors after a code collision): ``ties="expected"``
(the default) adds half of them, the mean of the best and the worst place the target could take, which is the
rank a random tie-break gives on average; ``"optimistic"`` adds none (ties count for the target), ``"pessimistic"``
all of them. Metrics are read at that (possibly fractional) rank.
The target itself is never masked, even when it also appears in the history (re-consumption datasets), and
padding (column 0) is never a candidate.

Ranks are counted, not sorted: each chunk of cases costs one (B, N + 1) comparison with the target scores, and
the masked items are subtracted pair by pair, so no (B, N + 1) mask is ever built and memory is bounded by the
chunk; the cases keep their histories ragged, and chunks take them in order of history length, each left-padded
only to its own longest (a scorer must therefore not depend on how much padding a row carries: padding is no item).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch

from mmrec.core.parallel import map_in_threads
from mmrec.core.sequences import gather_left_padded

Ties = Literal["optimistic", "pessimistic", "expected"]
TIE_SHARE: dict[str, float] = {"optimistic": 0.0, "expected": 0.5, "pessimistic": 1.0}  # of the tied items


@dataclasses.dataclass
class RankingCases:
    """Evaluation cases prepared once: ragged histories, the (case, item) pairs to mask, the targets."""

    history_items: np.ndarray  # flat int64, entry 0 is a padding 0; case c's history is [starts[c], ends[c])
    history_starts: np.ndarray  # (C,)
    history_ends: np.ndarray  # (C,)
    width: int  # model input width: each chunk is left-padded (or cut) to the last ``width`` items
    mask_rows: torch.Tensor  # (M,) case index of each masked (case, item) pair; pairs unique, items > 0
    mask_items: torch.Tensor  # (M,)
    mask_offsets: np.ndarray  # (C + 1,) case c's pairs are [offsets[c], offsets[c + 1])
    targets: torch.Tensor  # (C,)

    def __len__(self) -> int:
        return len(self.targets)

    @classmethod
    def build(cls, histories: list[np.ndarray], targets: np.ndarray, known: list[np.ndarray] | None = None,
              max_len: int | None = None) -> "RankingCases":
        """``known[c]``: extra items masked for case c (e.g. the user's training sequence) besides its history.

        ``max_len``: model input width (None: the longest history).
        """
        n = len(histories)
        lengths = np.fromiter((len(h) for h in histories), dtype=np.int64, count=n)
        flat = np.concatenate([np.zeros(1, np.int64), *[np.asarray(h, dtype=np.int64) for h in histories]])
        ends = 1 + np.cumsum(lengths)
        width = max(int(lengths.max(initial=0)) if max_len is None else max_len, 1)
        mask_cases, mask_items = [np.repeat(np.arange(n), lengths)], [flat[1:]]
        if known is not None:
            known_lengths = np.fromiter((len(k) for k in known), dtype=np.int64, count=n)
            mask_cases.append(np.repeat(np.arange(n), known_lengths))
            mask_items.append(np.concatenate([np.zeros(0, np.int64), *[np.asarray(k, np.int64) for k in known]]))
        cases_, items = np.concatenate(mask_cases), np.concatenate(mask_items)
        base = int(max(items.max(initial=0), np.max(targets, initial=0))) + 1
        keys = np.unique(cases_[items > 0] * base + items[items > 0])  # sorted by case, then item
        rows = keys // base
        return cls(flat, ends - lengths, ends, width, torch.from_numpy(rows), torch.from_numpy(keys % base),
                   np.searchsorted(rows, np.arange(n + 1)),
                   torch.as_tensor(np.asarray(targets), dtype=torch.long))

    def with_max_len(self, max_len: int | None) -> "RankingCases":
        """Same cases, model input cut to the last ``max_len`` items (None: as built)."""
        if max_len is None or max_len >= self.width:
            return self
        return dataclasses.replace(self, width=max_len)

    def lengths(self) -> np.ndarray:
        """Model-input length of each case: its history, cut to ``width``."""
        return np.minimum(self.history_ends - self.history_starts, self.width)

    def scoring_order(self) -> np.ndarray:
        """The order chunks take the cases in: by input length (stable), so neighbours need about the same padding."""
        return np.argsort(self.lengths(), kind="stable")

    def chunk(self, cases: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Input, targets and mask pairs (row within the chunk, item) of the cases at indices ``cases``; the input is
        left-padded to the longest of them (at most ``width``), so a chunk of short histories stays narrow."""
        starts, ends = self.history_starts[cases], self.history_ends[cases]
        width = max(1, min(self.width, int((ends - starts).max(initial=0))))
        first, counts = self.mask_offsets[cases], self.mask_offsets[cases + 1] - self.mask_offsets[cases]
        pairs = np.repeat(first - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))
        return (gather_left_padded(self.history_items, starts, ends, width), self.targets[cases],
                torch.from_numpy(np.repeat(np.arange(len(cases)), counts)), self.mask_items[pairs])

    def histories(self, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Left-padded model input ``(stop - start, width)`` of cases ``[start, stop)``."""
        rows = slice(start, len(self) if stop is None else stop)
        return gather_left_padded(self.history_items, self.history_starts[rows], self.history_ends[rows], self.width)


def target_ranks(scores: torch.Tensor, targets: torch.Tensor, mask_rows: torch.Tensor, mask_items: torch.Tensor,
                 ties: Ties = "expected") -> torch.Tensor:
    """Rank (float64) of each target among unmasked items. scores (B, N + 1); mask pairs (unique) index this batch.

    The items that are no candidates (the padding column, every masked item but the target) are scored -inf in a
    copy of ``scores``, so one counting pass ranks every row: faster than counting them and subtracting. Every
    pair is filled and the targets' own scores written back after, which costs less than finding the pairs that
    hit a target (a boolean selection over all pairs)."""
    rows = torch.arange(len(targets), device=scores.device)
    target_score = scores[rows, targets]
    shown = scores.index_put((mask_rows, mask_items), torch.tensor(-torch.inf, dtype=scores.dtype,
                                                                   device=scores.device))
    shown[:, 0] = -torch.inf
    shown[rows, targets] = target_score
    higher, tied = count_above_and_equal(shown, target_score)
    tied = tied - 1  # the target ties with itself
    lowest = target_score == -torch.inf
    if bool(lowest.any()):  # a target scored -inf ties with the off items only through the fill: take them out
        off = (mask_items > 0) & (mask_items != targets[mask_rows])
        tied = tied - (1 + torch.bincount(mask_rows[off], minlength=len(targets))) * lowest
    return higher.double() + TIE_SHARE[ties] * tied.double()


def count_above_and_equal(scores: torch.Tensor, threshold: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row, how many scores are > and == its threshold (int64). On CPU numpy counts ~2x faster than torch's
    bool sum; elsewhere (GPU) torch counts in place."""
    if scores.device.type == "cpu":
        return count_with_numpy(scores, threshold)
    return (scores > threshold[:, None]).sum(1), (scores == threshold[:, None]).sum(1)


def count_with_numpy(scores: torch.Tensor, threshold: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`count_above_and_equal` for CPU tensors, through numpy views (no copy); the comparisons are summed
    as bytes into int32 (``count_nonzero`` along an axis, or an int64 sum, takes twice as long)."""
    s, t = scores.detach().numpy(), threshold.detach().numpy()[:, None]
    return tuple(torch.from_numpy(c.view(np.uint8).sum(axis=1, dtype=np.int32).astype(np.int64))
                 for c in (s > t, s == t))


def rank_all(score: Callable[[torch.Tensor], torch.Tensor], cases: RankingCases, batch_size: int = 1024,
             ties: Ties = "expected", device: torch.device | str = "cpu", workers: int = 1) -> np.ndarray:
    """Ranks of every case's target, scored in chunks of ``batch_size`` without gradients on ``device``
    (``workers`` chunks at once: :func:`rank_all_excluding`).

    Memory beyond the cases is bounded by the chunk: its padded input, its (B, N + 1) scores and comparisons.
    """
    return rank_all_excluding(score, cases, [None], batch_size, ties, device, workers)[0]


def rank_all_excluding(score: Callable[[torch.Tensor], torch.Tensor], cases: RankingCases,
                       excluded: list[torch.Tensor | None], batch_size: int = 1024, ties: Ties = "expected",
                       device: torch.device | str = "cpu", workers: int = 1) -> list[np.ndarray]:
    """:func:`rank_all` once per entry of ``excluded`` ((N + 1,) bool: items that are no competitor, scored
    -inf; None: none), all from one scoring pass of the model. ``workers``: chunks scored and ranked by that many
    threads at once, torch's threads split between them (:func:`mmrec.core.parallel.map_in_threads`): faster for
    a model whose ops are too small to split well between threads (a recurrence), memory ``workers`` chunks."""
    order = cases.scoring_order()

    def rank_chunk(start: int) -> list[torch.Tensor]:
        with torch.no_grad():
            histories, targets, rows, items = cases.chunk(order[start : start + batch_size])
            scores = score(histories.to(device)).float()
            targets, rows, items = targets.to(device), rows.to(device), items.to(device)
            return [target_ranks(scores if mask is None else scores.masked_fill(mask.to(device), float("-inf")),
                                 targets, rows, items, ties) for mask in excluded]

    chunks = map_in_threads(rank_chunk, range(0, len(cases), batch_size), workers)
    results = []
    for i in range(len(excluded)):
        ranks = np.zeros(len(cases), dtype=np.float64)
        if chunks:
            ranks[order] = torch.cat([chunk[i] for chunk in chunks]).cpu().numpy()
        results.append(ranks)
    return results


def metrics_from_ranks(ranks: np.ndarray, ks: list[int]) -> dict[str, float]:
    """HR@K, NDCG@K, MRR@K averaged over cases (one relevant item per case); NaN-free: empty -> 0 with n=0."""
    ranks = np.asarray(ranks, dtype=np.float64)
    out: dict[str, float] = {}
    for k in ks:
        hit = ranks < k
        n = max(len(ranks), 1)
        out[f"HR@{k}"] = float(hit.sum() / n)
        out[f"NDCG@{k}"] = float((hit / np.log2(ranks + 2.0)).sum() / n)
        out[f"MRR@{k}"] = float((hit / (ranks + 1.0)).sum() / n)
    return out

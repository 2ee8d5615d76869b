"""Next-item losses over every position of a sequence (target 0 = padding, ignored).

Kept apart from the models: a backbone only produces states; how they are trained is chosen here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mmrec.items.base import ItemRepresentation

LOGITS_BUDGET = 1 << 20  # elements of one logits chunk: 4 MB of fp32, about what stays in a core's cache
MIN_CHUNK_ROWS = 64  # fewer rows and each chunk sweeps the whole table gradient for little work (200k items: 64 best)


def full_softmax_ce(states: torch.Tensor, targets: torch.Tensor, item_repr: ItemRepresentation,
                    exclude: torch.Tensor | None = None, logits_budget: int = LOGITS_BUDGET,
                    min_chunk_rows: int = MIN_CHUNK_ROWS) -> torch.Tensor:
    """Cross-entropy of each position's next item against the whole catalogue. states (B, L, d), targets (B, L).

    ``exclude`` (N + 1 bools) removes items from the softmax, e.g. those absent from the training sequences.
    When the (positions, N + 1) logits would pass ``logits_budget`` elements (a batch of 3,200 positions over
    200k items is 2.6 GB, and the softmax, its gradient and the masked copy as much again), they are computed
    in chunks of about ``logits_budget`` elements, at least ``min_chunk_rows`` positions each, and recomputed in
    the backward pass (:class:`ChunkedSoftmaxCE`).
    """
    keep = targets > 0
    states, targets = states[keep], targets[keep]  # only real positions: no wasted (pad, N) rows
    table = item_repr.all_items()
    banned = torch.zeros(len(table), dtype=torch.bool, device=table.device)
    banned[0] = True  # padding is never a candidate
    if exclude is not None:
        banned |= exclude.to(table.device)
    rows = max(min_chunk_rows, logits_budget // len(table))
    if len(states) <= rows:
        return F.cross_entropy((states @ table.T).masked_fill_(banned, -torch.inf), targets)
    return ChunkedSoftmaxCE.apply(states, table, targets, banned, rows)


class ChunkedSoftmaxCE(torch.autograd.Function):
    """Mean softmax cross-entropy of (n, d) states against a (V, d) table, ``rows`` states at a time.

    The forward keeps only each row's log-sum-exp; the backward recomputes a chunk's logits, turns them into
    softmax - one-hot and accumulates both gradients from it. Memory: one (rows, V) chunk instead of several
    (n, V) tensors, for one more (n, d) x (d, V) matmul than the whole-logits path.
    """

    @staticmethod
    def forward(ctx, states, table, targets, banned, rows):
        lse = torch.empty(len(states), dtype=states.dtype, device=states.device)
        for lo in range(0, len(states), rows):
            lse[lo:lo + rows] = torch.logsumexp((states[lo:lo + rows] @ table.T).masked_fill_(banned, -torch.inf), 1)
        ctx.save_for_backward(states, table, targets, banned, lse)
        ctx.rows = rows
        target_logits = (states * table[targets]).sum(-1)
        return (lse - target_logits.masked_fill(banned[targets], -torch.inf)).mean()

    @staticmethod
    def backward(ctx, grad):
        states, table, targets, banned, lse = ctx.saved_tensors
        rows, scale = ctx.rows, grad / len(states)
        grad_states, grad_table = torch.empty_like(states), torch.zeros_like(table)
        for lo in range(0, len(states), rows):
            chunk = states[lo:lo + rows]
            probs = (chunk @ table.T).masked_fill_(banned, -torch.inf).sub_(lse[lo:lo + rows, None]).exp_()
            probs[torch.arange(len(chunk), device=probs.device), targets[lo:lo + rows]] -= 1.0
            probs.mul_(scale)
            grad_states[lo:lo + rows] = probs @ table
            grad_table.addmm_(probs.T, chunk)
        return grad_states, grad_table, None, None, None


def sampled_bce(states: torch.Tensor, targets: torch.Tensor, item_repr: ItemRepresentation,
                n_negatives: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
    """Binary cross-entropy: the next item against ``n_negatives`` uniform random items per position."""
    keep = targets > 0
    states, pos = states[keep], targets[keep]
    neg = torch.randint(1, item_repr.n_items + 1, (len(pos), n_negatives), generator=generator).to(pos.device)
    pos_logit = (states * item_repr(pos)).sum(-1)
    neg_logit = torch.einsum("nd,nkd->nk", states, item_repr(neg))
    return (F.binary_cross_entropy_with_logits(pos_logit, torch.ones_like(pos_logit))
            + F.binary_cross_entropy_with_logits(neg_logit, torch.zeros_like(neg_logit), reduction="none")
            .sum(1).mean())

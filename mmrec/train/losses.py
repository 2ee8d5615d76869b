"""Next-item losses over every position of a sequence (target 0 = padding, ignored).

Kept apart from the models: a backbone only produces states; how they are trained is chosen here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mmrec.items.base import ItemRepresentation

LOGITS_BUDGET = 1 << 20  # elements of one logits chunk: 4 MB of fp32, about what stays in a core's cache
MIN_CHUNK_ROWS = 64  # fewer rows and each chunk sweeps the whole table gradient for little work (200k items: 64 best)
KEPT_LOGITS_BUDGET = 1 << 24  # elements (64 MB of fp32) up to which the forward's logits are kept for the backward


def full_softmax_ce(states: torch.Tensor, targets: torch.Tensor, item_repr: ItemRepresentation,
                    exclude: torch.Tensor | None = None, logits_budget: int = LOGITS_BUDGET,
                    min_chunk_rows: int = MIN_CHUNK_ROWS, kept_logits_budget: int = KEPT_LOGITS_BUDGET
                    ) -> torch.Tensor:
    """Cross-entropy of each position's next item against the whole catalogue. states (B, L, d), targets (B, L).

    ``exclude`` (N + 1 bools) removes items from the softmax, e.g. those absent from the training sequences.
    Padding (row 0) is never a candidate: the logits are taken against rows 1..N only, so the usual case needs
    no mask at all; excluded items get an additive -inf (a broadcast ``masked_fill_`` costs more than the
    chunk's matmul). When the (positions, N) logits would pass ``logits_budget`` elements (a batch of 3,200
    positions over 200k items is 2.6 GB, and the softmax, its gradient and the masked copy as much again), they
    are computed in chunks of about ``logits_budget`` elements, at least ``min_chunk_rows`` positions each, and
    recomputed in the backward pass (:class:`ChunkedSoftmaxCE`), unless all of them fit ``kept_logits_budget``
    elements: then the forward's chunks are kept, which saves the backward one matmul.
    """
    keep = targets > 0
    states, targets = states[keep], targets[keep] - 1  # only real positions; targets index the rows 1..N
    candidates = item_repr.all_items()[1:]
    bias = None
    if exclude is not None:
        bias = torch.zeros(len(candidates), dtype=candidates.dtype, device=candidates.device)
        bias.masked_fill_(exclude[1:].to(candidates.device), -torch.inf)
    rows = max(min_chunk_rows, logits_budget // max(len(candidates), 1))
    if len(states) <= rows:
        logits = states @ candidates.T
        return F.cross_entropy(logits if bias is None else logits.add_(bias), targets)
    return ChunkedSoftmaxCE.apply(states, candidates, targets, bias, rows,
                                  len(states) * len(candidates) <= kept_logits_budget)


def _logits(states: torch.Tensor, table: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    logits = states @ table.T
    return logits if bias is None else logits.add_(bias)


class ChunkedSoftmaxCE(torch.autograd.Function):
    """Mean softmax cross-entropy of (n, d) states against a (V, d) table, ``rows`` states at a time; ``bias``:
    None, or (V,) added to every row's logits (-inf removes an item).

    The forward keeps each row's log-sum-exp; the backward turns a chunk's logits into softmax - one-hot and
    accumulates both gradients from it. ``keep``: the forward's logit chunks are kept for the backward (memory:
    the whole (n, V) logits, once); otherwise the backward recomputes them (memory: one (rows, V) chunk instead
    of several (n, V) tensors, for one more (n, d) x (d, V) matmul than the whole-logits path). Both give the
    same bits.
    """

    @staticmethod
    def forward(ctx, states, table, targets, bias, rows, keep=False):
        lse = torch.empty(len(states), dtype=states.dtype, device=states.device)
        floor = torch.finfo(states.dtype).min  # a row of -inf keeps lse = -inf, as torch.logsumexp gives
        ctx.kept = []
        for lo in range(0, len(states), rows):
            logits = _logits(states[lo:lo + rows], table, bias)
            peak = logits.amax(1, keepdim=True).clamp_min_(floor)  # in place: half torch.logsumexp's passes
            if keep:
                ctx.kept.append(logits)
                logits = logits - peak
            else:
                logits.sub_(peak)
            lse[lo:lo + rows] = logits.exp_().sum(1).log_().add_(peak.squeeze(1))
        ctx.save_for_backward(states, table, targets, bias, lse)
        ctx.rows = rows
        target_logits = (states * table[targets]).sum(-1)
        if bias is not None:
            target_logits = target_logits + bias[targets]
        return (lse - target_logits).mean()

    @staticmethod
    def backward(ctx, grad):
        states, table, targets, bias, lse = ctx.saved_tensors
        rows, scale = ctx.rows, grad / len(states)
        grad_states, grad_table = torch.empty_like(states), torch.zeros_like(table)
        for i, lo in enumerate(range(0, len(states), rows)):
            chunk = states[lo:lo + rows]
            logits = ctx.kept[i] if ctx.kept else _logits(chunk, table, bias)
            probs = torch.sub(logits, lse[lo:lo + rows, None]).exp_()  # not in place: a kept chunk stays as it was
            probs[torch.arange(len(chunk), device=probs.device), targets[lo:lo + rows]] -= 1.0
            probs.mul_(scale)
            grad_states[lo:lo + rows] = probs @ table
            grad_table.addmm_(probs.T, chunk)
        return grad_states, grad_table, None, None, None, None


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

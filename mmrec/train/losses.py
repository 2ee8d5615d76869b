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
    elements: then the forward's chunks are kept, which saves the backward one matmul. Under bf16 autocast the
    logits' matmuls take bf16 inputs and the softmax runs in fp32.
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
        logits = (states @ candidates.T).float()
        return F.cross_entropy(logits if bias is None else logits.add_(bias), targets)
    keep_logits = len(states) * len(candidates) <= kept_logits_budget
    if not torch.is_autocast_enabled("cpu"):
        return ChunkedSoftmaxCE.apply(states, candidates, targets, bias, rows, keep_logits)
    with torch.autocast("cpu", enabled=False):  # the function casts its matmuls' inputs itself
        return ChunkedSoftmaxCE.apply(states.float(), candidates.float(), targets, bias, rows, keep_logits,
                                      torch.get_autocast_dtype("cpu"))


class ChunkedSoftmaxCE(torch.autograd.Function):
    """Mean softmax cross-entropy of (n, d) states against a (V, d) table, ``rows`` states at a time; ``bias``:
    None, or (V,) added to every row's logits (-inf removes an item).

    The forward turns each chunk's logits into e = exp(logits - row max) in place and keeps each row's max and
    sum of e; the backward scales e by 1 / sum into the softmax, subtracts the one-hot and accumulates both
    gradients from it (one pass over the chunk, not a second exp). ``keep``: the forward's e chunks are kept for
    the backward (memory: the whole (n, V) logits, once); otherwise the backward recomputes them (memory: one
    (rows, V) chunk instead of several (n, V) tensors, for one more (n, d) x (d, V) matmul than the whole-logits
    path). Both give the same bits. ``matmul_dtype`` (bf16 under autocast): the three matmuls' inputs; logits,
    softmax and gradients stay in the states' dtype.
    """

    @staticmethod
    def forward(ctx, states, table, targets, bias, rows, keep=False, matmul_dtype=None):
        peaks = torch.empty(len(states), 1, dtype=states.dtype, device=states.device)
        sums = torch.empty(len(states), dtype=states.dtype, device=states.device)
        ctx.kept = []
        low_states, low_table = states.to(matmul_dtype or states.dtype), table.to(matmul_dtype or table.dtype)
        for lo in range(0, len(states), rows):
            e, peaks[lo:lo + rows] = _exp_logits(low_states[lo:lo + rows], low_table, bias, states.dtype)
            sums[lo:lo + rows] = e.sum(1)
            if keep:
                ctx.kept.append(e)
        ctx.save_for_backward(low_states, low_table, targets, bias, peaks, sums)
        ctx.rows, ctx.dtypes = rows, (states.dtype, table.dtype)
        target_logits = (states * table[targets]).sum(-1)
        if bias is not None:
            target_logits = target_logits + bias[targets]
        return (sums.log() + peaks.squeeze(1) - target_logits).mean()  # a row of -inf: lse -inf, as logsumexp

    @staticmethod
    def backward(ctx, grad):
        states, table, targets, bias, peaks, sums = ctx.saved_tensors
        kept, ctx.kept = ctx.kept, []  # consumed in place: a second backward (retain_graph) recomputes them
        rows, scale = ctx.rows, grad / len(states)
        grad_states = torch.empty(states.shape, dtype=ctx.dtypes[0], device=states.device)
        grad_table = torch.zeros(table.shape, dtype=ctx.dtypes[1], device=table.device)
        low = states.dtype != ctx.dtypes[0]
        for i, lo in enumerate(range(0, len(states), rows)):
            chunk = states[lo:lo + rows]
            e = kept[i] if kept else _exp_logits(chunk, table, bias, ctx.dtypes[0], peaks[lo:lo + rows])[0]
            probs = e.mul_((scale / sums[lo:lo + rows]).unsqueeze(1))  # softmax x the mean's weight
            probs[torch.arange(len(chunk), device=probs.device), targets[lo:lo + rows]] -= scale
            if low:
                probs = probs.to(states.dtype)
            grad_states[lo:lo + rows] = probs @ table
            if low:  # addmm_ takes no bf16 operands into the fp32 gradient
                grad_table += probs.T @ chunk
            else:
                grad_table.addmm_(probs.T, chunk)
        return grad_states, grad_table, None, None, None, None, None


def _exp_logits(states: torch.Tensor, table: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype,
                peaks: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """exp(logits - peaks) of (rows, d) states against a (V, d) table, in ``dtype`` (fp32 from bf16 matmul
    inputs), in place on the logits, and the (rows, 1) peaks: each row's max unless given."""
    logits = (states @ table.T).to(dtype)
    if bias is not None:
        logits.add_(bias)
    if peaks is None:  # clamped: a row of -inf gives e = 0, not NaN
        peaks = logits.amax(1, keepdim=True).clamp_min_(torch.finfo(dtype).min)
    return logits.sub_(peaks).exp_(), peaks


def sampled_bce(states: torch.Tensor, targets: torch.Tensor, item_repr: ItemRepresentation,
                n_negatives: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
    """Binary cross-entropy: the next item against ``n_negatives`` uniform random items per position."""
    keep = targets > 0
    states, pos = states[keep], targets[keep]
    neg = torch.randint(1, item_repr.n_items + 1, (len(pos), n_negatives), generator=generator).to(pos.device)
    pos_logit = (states * item_repr(pos)).sum(-1).float()
    neg_logit = torch.einsum("nd,nkd->nk", states, item_repr(neg)).float()
    return (F.binary_cross_entropy_with_logits(pos_logit, torch.ones_like(pos_logit))
            + F.binary_cross_entropy_with_logits(neg_logit, torch.zeros_like(neg_logit), reduction="none")
            .sum(1).mean())

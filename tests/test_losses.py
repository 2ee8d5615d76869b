"""Next-item losses: the chunked full-softmax CE is the whole-logits CE, in value and gradient."""

import pytest
import torch
import torch.nn.functional as F

from mmrec.items.base import IDEmbedding
from mmrec.train.losses import ChunkedSoftmaxCE, full_softmax_ce


def _grads(loss_fn, states, table):
    states, table = states.clone().requires_grad_(), table.clone().requires_grad_()
    loss = loss_fn(states, table)
    loss.backward()
    return loss.detach(), states.grad, table.grad


def test_chunked_ce_matches_whole_logits_in_value_and_gradient():
    torch.manual_seed(0)
    states, table = torch.randn(500, 16), torch.randn(301, 16)
    banned = torch.zeros(301, dtype=torch.bool)
    banned[[0, 7, 100]] = True
    targets = torch.randint(1, 301, (500,))
    targets[banned[targets]] = 1
    whole = _grads(lambda s, t: F.cross_entropy((s @ t.T).masked_fill(banned, -torch.inf), targets), states, table)
    bias = torch.zeros(301).masked_fill(banned, -torch.inf)
    for rows in (1, 37, 499, 500):  # one row, uneven chunks, a short last chunk, one chunk
        chunked = _grads(lambda s, t: ChunkedSoftmaxCE.apply(s, t, targets, bias, rows), states, table)
        for a, b in zip(whole, chunked):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
        assert torch.count_nonzero(chunked[2][banned]) == 0  # banned items get no gradient
        kept = _grads(lambda s, t: ChunkedSoftmaxCE.apply(s, t, targets, bias, rows, True), states, table)
        for a, b in zip(chunked, kept):  # the forward's logits kept for the backward: the same bits as recomputed
            assert torch.equal(a, b)


def test_chunked_ce_gradcheck():
    torch.manual_seed(0)
    banned = torch.tensor([True, False, False, True, False, False, False, False])
    targets = torch.tensor([1, 2, 4, 7, 5, 6])
    states = torch.randn(6, 3, dtype=torch.double, requires_grad=True)
    table = torch.randn(8, 3, dtype=torch.double, requires_grad=True)
    bias = torch.zeros(8, dtype=torch.double).masked_fill(banned, -torch.inf)
    assert torch.autograd.gradcheck(lambda s, t: ChunkedSoftmaxCE.apply(s, t, targets, bias, 4), (states, table))
    assert torch.autograd.gradcheck(lambda s, t: ChunkedSoftmaxCE.apply(s, t, targets, None, 4), (states, table))
    assert torch.autograd.gradcheck(lambda s, t: ChunkedSoftmaxCE.apply(s, t, targets, bias, 4, True),
                                    (states, table))


@pytest.mark.parametrize("exclude", [False, True])
def test_full_softmax_ce_chunks_past_the_budget_with_the_same_result(exclude):
    torch.manual_seed(0)
    items = IDEmbedding(50, 8)
    states, targets = torch.randn(4, 6, 8), torch.randint(0, 41, (4, 6))  # 0 = padding
    mask = torch.arange(51) > 40 if exclude else None  # items 41..50 never seen in training
    results = []
    # the whole (positions, 51) logits at once; 5 positions at a time, kept for the backward or recomputed there
    for budget, kept in ((10_000, 0), (51 * 5, 10_000), (51 * 5, 0)):
        items.zero_grad()
        h = states.clone().requires_grad_()
        loss = full_softmax_ce(h, targets, items, mask, logits_budget=budget, min_chunk_rows=1,
                               kept_logits_budget=kept)
        loss.backward()
        results.append((loss.detach(), h.grad, items.weight.weight.grad.clone()))
    for a, b in zip(*results[:2]):
        torch.testing.assert_close(a, b)
    for a, b in zip(*results[1:]):
        assert torch.equal(a, b)
    if exclude:
        assert torch.count_nonzero(results[1][2][41:]) == 0


@pytest.mark.parametrize("budget", [10_000, 50 * 5])
def test_full_softmax_ce_is_the_cross_entropy_over_the_catalogue_without_padding(budget):
    """The logits skip row 0 rather than masking it: the loss and gradients equal the masked whole-table CE."""
    torch.manual_seed(1)
    items = IDEmbedding(50, 8)
    states, targets = torch.randn(4, 6, 8), torch.randint(0, 51, (4, 6))
    exclude = torch.zeros(51, dtype=torch.bool)
    exclude[[3, 9]] = True
    targets[exclude[targets]] = 1
    results = []
    for reference in (True, False):
        items.zero_grad()
        h = states.clone().requires_grad_()
        if reference:
            keep = targets > 0
            logits = (h[keep] @ items.all_items().T).masked_fill(exclude | (torch.arange(51) == 0), -torch.inf)
            loss = F.cross_entropy(logits, targets[keep])
        else:
            loss = full_softmax_ce(h, targets, items, exclude, logits_budget=budget, min_chunk_rows=1)
        loss.backward()
        results.append((loss.detach(), h.grad, items.weight.weight.grad.clone()))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b)
    assert torch.count_nonzero(results[1][2][[0, 3, 9]]) == 0  # padding and excluded rows: no gradient

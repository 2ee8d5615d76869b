"""SemanticIDRepresentation: padding, shared codes, gradients, cold items, the ID option."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmrec.items.codes import SemanticIDRepresentation, prepend_padding
from semantic_ids.stats import embedding_stats

# items 1..5, two codebooks of two levels (4 codes); items 2 and 4 share every code
ITEM_CODES = np.array(
    [
        [[0, 1], [2, 3]],
        [[1, 1], [0, 0]],
        [[3, 2], [1, 0]],
        [[1, 1], [0, 0]],
        [[2, 0], [3, 3]],
    ]
)


@pytest.fixture
def codes() -> torch.Tensor:
    return prepend_padding(ITEM_CODES)


def test_prepend_padding_adds_a_zero_row(codes: torch.Tensor) -> None:
    assert codes.shape == (6, 2, 2) and codes.dtype == torch.int64
    assert (codes[0] == 0).all() and (codes[1:] == torch.as_tensor(ITEM_CODES)).all()


@pytest.mark.parametrize("reduce", ["sum", "project"])
@pytest.mark.parametrize("with_id", [False, True])
def test_padding_is_zero_and_shapes_follow_items(codes: torch.Tensor, reduce: str, with_id: bool) -> None:
    torch.manual_seed(0)
    rep = SemanticIDRepresentation(codes, 8, 4, reduce=reduce, with_id=with_id, activation="gelu")
    items = torch.tensor([[0, 1, 2], [3, 0, 5]])
    out = rep(items)
    assert out.shape == (2, 3, 8)
    assert (out[0, 0] == 0).all() and (out[1, 1] == 0).all()
    assert (out[0, 1] != 0).any()
    all_items = rep.all_items()
    assert all_items.shape == (6, 8) and (all_items[0] == 0).all()
    assert torch.allclose(all_items[items], out)


def test_items_sharing_all_codes_match_only_without_id(codes: torch.Tensor) -> None:
    torch.manual_seed(0)
    codes_only = SemanticIDRepresentation(codes, 8, 4)
    vectors = codes_only(torch.tensor([2, 4, 1]))
    assert torch.equal(vectors[0], vectors[1])
    assert not torch.allclose(vectors[0], vectors[2])
    with_id = SemanticIDRepresentation(codes, 8, 4, with_id=True)
    vectors = with_id(torch.tensor([2, 4]))
    assert not torch.allclose(vectors[0], vectors[1])


def test_gradients_reach_the_used_code_rows_and_the_gate(codes: torch.Tensor) -> None:
    torch.manual_seed(0)
    rep = SemanticIDRepresentation(codes, 8, 4, with_id=True)
    rep(torch.tensor([1, 3])).square().sum().backward()
    for k, table in enumerate(rep.tables):
        codebook, level = divmod(k, 2)
        used = {int(ITEM_CODES[0, codebook, level]), int(ITEM_CODES[2, codebook, level])}
        rows_with_grad = {int(r) for r in table.weight.grad.abs().sum(1).nonzero()}
        assert rows_with_grad == used
    assert rep.gate[0].weight.grad.abs().sum() > 0 and rep.gate[2].weight.grad.abs().sum() > 0
    assert rep.id_embedding.weight.weight.grad[[1, 3]].abs().sum() > 0


def test_a_cold_item_moves_with_the_codes_it_shares(codes: torch.Tensor) -> None:
    """Training only item 2 moves never-trained item 4 (same codes) identically; padding stays zero."""
    torch.manual_seed(0)
    rep = SemanticIDRepresentation(codes, 8, 4)
    before = rep.all_items().detach().clone()
    for _ in range(3):  # plain SGD steps
        rep.zero_grad()
        (rep(torch.tensor([2])) - 1.0).square().sum().backward()
        with torch.no_grad():
            for parameter in rep.parameters():
                parameter -= 0.5 * parameter.grad
    after = rep.all_items().detach()
    assert (after[4] - before[4]).abs().sum() > 0 and torch.allclose(after[2], after[4])
    assert (after[0] == 0).all()


def test_suffix_levels_get_tables_large_enough(codes: torch.Tensor) -> None:
    suffixed = torch.cat([codes, torch.tensor([0, 0, 0, 7, 1, 0]).view(6, 1, 1).expand(6, 2, 1)], dim=-1)
    rep = SemanticIDRepresentation(suffixed, 4, 4)
    assert [t.num_embeddings for t in rep.tables] == [4, 4, 8, 4, 4, 8]
    assert rep(torch.tensor([3])).shape == (1, 4)
    stats = embedding_stats(rep.code_tables())
    assert list(stats) == [f"codebook{c}/level{l}" for c in range(2) for l in range(3)]
    assert all(1.0 <= s["information_abundance"] <= 4.0 for s in stats.values())


def test_rejects_bad_codes() -> None:
    with pytest.raises(ValueError, match="n_codebooks"):
        SemanticIDRepresentation(torch.zeros(6, 2, dtype=torch.int64), 4, 4)
    with pytest.raises(ValueError, match="activation"):
        SemanticIDRepresentation(torch.zeros(3, 1, 1, dtype=torch.int64), 4, 4, activation="tanh")
    with pytest.raises(ValueError, match="non-negative"):
        SemanticIDRepresentation(-torch.ones(3, 1, 1, dtype=torch.int64), 4, 4)


@pytest.mark.parametrize("with_id", [False, True])
def test_a_batch_with_more_lookups_than_items_gathers_the_same_vectors_and_gradients(codes, with_id) -> None:
    """A training batch (more positions than items) computes every item's vector once and gathers: the vectors and
    the parameter gradients equal the per-position computation."""
    torch.manual_seed(0)
    rep = SemanticIDRepresentation(codes, dim=8, codes_per_level=4, with_id=with_id)
    items = torch.randint(0, rep.n_items + 1, (6, rep.n_items))  # 6 x N lookups > N + 1 items
    assert items.numel() > rep.n_items + 1
    gathered = rep(items)
    direct = rep._vectors(items)
    torch.testing.assert_close(gathered, direct, rtol=1e-6, atol=1e-7)
    weights = torch.randn_like(direct)
    grads = []
    for out in (rep(items), rep._vectors(items)):
        rep.zero_grad()
        (out * weights).sum().backward()
        grads.append([p.grad.clone() for p in rep.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert torch.equal(rep(items[:1, :3]), rep._vectors(items[:1, :3]))  # few lookups: computed directly

"""Scoring from the last position (what evaluation calls: ``model.scorer()``) equals the whole-sequence path
``encode_sequence(h)[:, -1] @ all_items().T`` it replaced, for SASRec, its semantic-ID and multi-embedding
variants and GRU4Rec (from its final state, unpacked when no row has padding), with padding, several blocks and
dropout (off in eval); and evaluate() ranks them as before."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmrec.core.sequences import left_pad
from mmrec.eval.metrics import RankingCases, rank_all
from mmrec.models.base import ModelData
from mmrec.models.gru4rec import GRU4Rec, GRU4RecConfig
from mmrec.models.sasrec import SASRec, SASRecConfig
from mmrec.models.semantic_sasrec import (MultiEmbeddingConfig, MultiEmbeddingSASRec, SemanticSASRec,
                                          SemanticSASRecConfig)

N = 30


def _histories(n: int = 24, max_len: int = 10) -> torch.Tensor:
    rng = np.random.default_rng(0)
    return left_pad([rng.integers(1, N + 1, size=rng.integers(1, 16)) for _ in range(n)], max_len)


def _models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    codes = np.concatenate([np.zeros((1, 2, 2), np.int64), rng.integers(0, 4, size=(N, 2, 2))])
    train = [np.zeros(0, np.int64)] + [rng.integers(1, N + 1, size=8) for _ in range(10)]
    data = ModelData(N, train, item_codes={"moc2": codes})
    sasrec = {"dim": 16, "n_heads": 2, "max_len": 10, "dropout": 0.3}
    return {
        "sasrec_1_block": SASRec(SASRecConfig(n_items=N, n_layers=1, **sasrec)),
        "sasrec_3_blocks": SASRec(SASRecConfig(n_items=N, n_layers=3, **sasrec)),
        "sasrec_0_blocks": SASRec(SASRecConfig(n_items=N, n_layers=0, **sasrec)),
        "moc2": SemanticSASRec.build(SemanticSASRecConfig(variant="moc2", n_layers=2, **sasrec), data),
        "multi_embedding": MultiEmbeddingSASRec.build(MultiEmbeddingConfig(n_tables=2, n_layers=2, **sasrec), data),
        "gru4rec": GRU4Rec(GRU4RecConfig(n_items=N, dim=16, hidden=12, max_len=10, dropout=0.3)),
    }


@pytest.mark.parametrize("name", list(_models()))
def test_last_position_scores_equal_the_whole_sequence_path(name: str) -> None:
    model = _models()[name].eval()
    histories = _histories()
    with torch.no_grad():
        old = model.encode_sequence(histories)[:, -1] @ model.item_repr.all_items().T
        new = model.scorer()(histories)
        assert torch.allclose(model.score(histories), old, atol=1e-5)
    assert new.shape == (len(histories), N + 1) and not new.requires_grad
    torch.testing.assert_close(new, old, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(new[0], new[1])  # different histories, different scores


def test_evaluation_ranks_as_with_the_whole_sequence_path() -> None:
    model = _models()["sasrec_3_blocks"].eval()
    rng = np.random.default_rng(2)
    histories = [rng.integers(1, N + 1, size=rng.integers(1, 16)) for _ in range(40)]
    cases = RankingCases.build(histories, rng.integers(1, N + 1, size=40), max_len=10)
    items = model.item_repr.all_items().detach()
    old = rank_all(lambda h: model.encode_sequence(h)[:, -1] @ items.T, cases, batch_size=7)
    assert np.array_equal(rank_all(model.scorer(), cases, batch_size=7), old)


@pytest.mark.parametrize("name", ["sasrec_3_blocks", "gru4rec"])
def test_chunks_ranked_by_two_worker_threads_equal_one_thread_in_turn(name: str) -> None:
    """Two 1-thread workers (eval.workers: 2 of 2 threads) give exactly the ranks of one thread doing every chunk,
    in case order, and torch's thread count is restored after."""
    model = _models()[name].eval()
    rng = np.random.default_rng(3)
    histories = [rng.integers(1, N + 1, size=rng.integers(1, 16)) for _ in range(45)]
    known = [rng.integers(1, N + 1, size=3) for _ in range(45)]
    cases = RankingCases.build(histories, rng.integers(1, N + 1, size=45), known, max_len=10)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = rank_all(model.scorer(), cases, batch_size=4)
        torch.set_num_threads(2)
        workers = rank_all(model.scorer(), cases, batch_size=4, workers=2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(workers, alone) and len(np.unique(alone)) > 10


def test_a_backbone_with_its_own_score_keeps_it() -> None:
    class Tempered(SASRec):
        def score(self, histories: torch.Tensor) -> torch.Tensor:
            return super().score(histories) / 2.0

    model = Tempered(SASRecConfig(n_items=N, dim=16, n_heads=2, max_len=10)).eval()
    histories = _histories()
    with torch.no_grad():
        torch.testing.assert_close(model.scorer()(histories), model.score(histories))


def test_a_batch_without_padding_takes_the_causal_kernel_and_matches_the_masked_path() -> None:
    model = _models()["sasrec_3_blocks"].eval()
    full = torch.randint(1, N + 1, (6, 10), generator=torch.Generator().manual_seed(3))
    x, allowed = model._inputs(full)
    assert allowed is None
    causal = torch.ones(10, 10, dtype=torch.bool).tril().expand(6, 1, 10, 10)
    with torch.no_grad():
        masked = x
        for block in model.blocks:
            masked = block(masked, causal)
        torch.testing.assert_close(model.encode_sequence(full), model.ln_out(masked), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(model.scorer()(full), model.ln_out(masked[:, -1]) @ model.item_repr.all_items().T,
                                   atol=1e-5, rtol=1e-5)


def test_gru4rec_scores_a_batch_without_padding_unpacked_as_the_packed_path_does() -> None:
    model = _models()["gru4rec"].eval()
    full = torch.randint(1, N + 1, (6, 10), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        packed = model.encode_sequence(full)[:, -1] @ model.item_repr.all_items().T
        torch.testing.assert_close(model.scorer()(full), packed, atol=1e-5, rtol=1e-5)
        # one padded row sends the batch down the packed path; the full rows' scores stay the same
        mixed = torch.cat([full, torch.cat([torch.zeros(1, 4, dtype=full.dtype), full[:1, 4:]], 1)])
        torch.testing.assert_close(model.scorer()(mixed)[:6], packed, atol=1e-5, rtol=1e-5)

"""bf16 mixed precision (``train.precision`` / ``eval.precision``): autocast runs the matmuls in bf16 while the
loss, the scores and the gradients stay fp32 and close to the fp32 ones; dropout draws the same masks; a bf16
training run learns and is reproducible; fp32 is untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmrec.core.config import ConfigError
from mmrec.core.precision import autocast
from mmrec.core.sequences import left_pad
from mmrec.eval.config import EvalConfig
from mmrec.eval.evaluate import evaluate
from mmrec.items.base import IDEmbedding
from mmrec.models.base import ModelData
from mmrec.models.dropout import dropout
from mmrec.models.gru4rec import GRU4Rec, GRU4RecConfig
from mmrec.models.sasrec import SASRec, SASRecConfig
from mmrec.models.semantic_sasrec import SemanticSASRec, SemanticSASRecConfig
from mmrec.recipe import load_recipe
from mmrec.train.losses import full_softmax_ce
from test_train_seq import SAS, _cyclic_data, _trainer

N = 30


def _models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    codes = np.concatenate([np.zeros((1, 2, 2), np.int64), rng.integers(0, 4, size=(N, 2, 2))])
    data = ModelData(N, [np.zeros(0, np.int64)], item_codes={"moc2": codes})
    sasrec = {"dim": 16, "n_heads": 2, "max_len": 10, "dropout": 0.3}
    models = {"sasrec": SASRec(SASRecConfig(n_items=N, n_layers=2, **sasrec)),
              "moc2": SemanticSASRec.build(SemanticSASRecConfig(variant="moc2", n_layers=2, **sasrec), data),
              "gru4rec": GRU4Rec(GRU4RecConfig(n_items=N, dim=16, hidden=12, max_len=10, dropout=0.3))}
    with torch.no_grad():  # weights of a trained model's scale, not the 0.02-std initialisation
        for model in models.values():
            for p in model.parameters():
                p.normal_(0, 0.3)
    return models


@pytest.mark.parametrize("name", list(_models()))
def test_bf16_scores_are_fp32_and_within_bf16_rounding_of_the_fp32_ones(name: str) -> None:
    model = _models()[name].eval()
    rng = np.random.default_rng(0)
    histories = left_pad([rng.integers(1, N + 1, size=rng.integers(1, 16)) for _ in range(24)], 10)
    with torch.no_grad():
        exact, low = model.scorer("fp32")(histories), model.scorer("bf16")(histories)
    assert low.dtype == torch.float32 and low.shape == exact.shape
    assert not torch.equal(low, exact)  # the encoder did run in bf16
    torch.testing.assert_close(low, exact, rtol=0.05, atol=0.05 * exact.abs().max().item())


@pytest.mark.parametrize("budget", [1 << 20, 64])  # one whole-logits matmul; chunks of the custom function
def test_full_softmax_ce_under_autocast_is_fp32_and_close_in_value_and_gradient(budget: int) -> None:
    torch.manual_seed(0)
    states, table = torch.randn(4, 50, 16), torch.randn(201, 16)
    targets = torch.randint(0, 201, (4, 50))

    def run(precision):
        s = states.clone().requires_grad_()
        items = IDEmbedding(200, 16)
        with torch.no_grad():
            items.weight.weight.copy_(table)
        with autocast(precision):
            loss = full_softmax_ce(s * 1.0, targets, items, logits_budget=budget, min_chunk_rows=8)
        loss.backward()
        return loss.detach(), s.grad, items.weight.weight.grad

    exact, low = run("fp32"), run("bf16")
    for a, b in zip(exact, low):
        assert b.dtype == torch.float32
        assert not torch.equal(a, b)
        torch.testing.assert_close(b, a, rtol=0.03, atol=0.03 * a.abs().max().item())


def test_dropout_under_bf16_draws_the_fp32_masks() -> None:
    x = torch.randn(64, 50, 32) + 3.0  # no zeros of its own
    torch.manual_seed(5)
    exact = dropout(x, 0.2)
    torch.manual_seed(5)
    low = dropout(x.to(torch.bfloat16), 0.2)
    assert low.dtype == torch.bfloat16
    assert torch.equal(exact == 0, low == 0)
    assert (exact == 0).float().mean().item() == pytest.approx(0.2, abs=0.01)


def test_a_bf16_run_learns_the_rule_reproducibly_and_evaluates_like_fp32() -> None:
    a, b = _trainer(SASRec, SAS, epochs=25, precision="bf16"), _trainer(SASRec, SAS, epochs=25, precision="bf16")
    untrained = a.validate()
    early = a.fit()
    b.fit()
    assert untrained < 0.3 and early.best > 0.8  # chance is ~0.1
    assert [h.loss for h in a.history] == [h.loss for h in b.history]
    _, valid = _cyclic_data()
    counts = np.ones(a.model.n_items + 1)
    exact = evaluate(a.model, valid, counts, EvalConfig(n_bins=2))["overall"]["NDCG@10"]
    low = evaluate(a.model, valid, counts, EvalConfig(n_bins=2, precision="bf16"))["overall"]["NDCG@10"]
    assert low == pytest.approx(exact, abs=0.02)


def test_an_unknown_precision_is_a_config_error_naming_the_key(tmp_path) -> None:
    from toy import write_recipe

    recipe = write_recipe(tmp_path)
    assert load_recipe(recipe, ["train.precision=bf16", "eval.precision=bf16"]).train.precision == "bf16"
    with pytest.raises(ConfigError, match="precision"):
        load_recipe(recipe, ["train.precision=fp16"])
    with pytest.raises(ConfigError, match="precision"):
        autocast("fp16")

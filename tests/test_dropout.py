"""mmrec.models.dropout and SASRec's attention with dropout: what torch's dropout / SDPA compute, by other means."""

import pytest
import torch
import torch.nn.functional as F

from mmrec.models.dropout import Dropout, dropout
from mmrec.models.sasrec import attention_with_dropout


def test_dropout_keeps_one_minus_p_scaled_and_its_gradient_is_the_same_mask():
    torch.manual_seed(0)
    x = torch.ones(1 << 20, requires_grad=True)
    y = dropout(x, 0.2)
    kept = y.detach() > 0
    assert abs(kept.float().mean().item() - 0.8) < 0.003  # 1M Bernoulli(0.8): std 0.0004
    assert torch.allclose(y.detach()[kept], torch.tensor(1.25))
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # d(x * m / (1 - p)) / dx = m / (1 - p)


def test_dropout_is_seeded_and_off_outside_training():
    x = torch.randn(1000)
    torch.manual_seed(3)
    a = dropout(x, 0.5)
    torch.manual_seed(3)
    assert torch.equal(a, dropout(x, 0.5))
    module = Dropout(0.5).eval()
    assert module(x) is x and dropout(x, 0.0) is x
    assert torch.equal(dropout(x, 1.0), torch.zeros(1000))  # no 1 / 0 scale
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(1.5)


@pytest.mark.parametrize("padded", [False, True])
def test_attention_without_dropout_is_sdpa(padded):
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 4, 2, 7, 8).unbind(0)
    allowed = None
    if padded:  # row 0's first three keys are padding; every position sees itself
        real = torch.ones(4, 7, dtype=torch.bool)
        real[0, :3] = False
        causal = torch.ones(7, 7, dtype=torch.bool).tril()
        allowed = (causal & (real.unsqueeze(1) | torch.eye(7, dtype=torch.bool))).unsqueeze(1)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, is_causal=allowed is None)
    hidden = None if allowed is None else torch.zeros(allowed.shape).masked_fill(~allowed, -torch.inf)
    torch.testing.assert_close(attention_with_dropout(q, k, v, hidden, 0.0), expected)


def test_attention_dropout_is_unbiased():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 8, 2, 20, 8).unbind(0)
    reference = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    draws = torch.stack([attention_with_dropout(q, k, v, None, 0.5) for _ in range(400)])
    assert not torch.allclose(draws[0], reference)
    error = (draws.mean(0) - reference).abs().mean().item()
    assert error < 0.3 * reference.abs().mean().item(), error  # unscaled weights would be off by half

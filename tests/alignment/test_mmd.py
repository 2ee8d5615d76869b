"""MK-MMD: behaviour on known distributions, agreement with a direct double loop, stability, gradients."""

import math

import pytest
import torch

from alignment.mmd import DEFAULT_MULTIPLIERS, distinct_items, mk_mmd, squared_distances


def _loop_mmd(s: torch.Tensor, t: torch.Tensor) -> float:
    """The definition written out pair by pair in float64."""
    x = torch.cat([s, t]).double()
    n, m, size = len(s), len(t), len(s) + len(t)
    dist = [[float(((x[j] - x[k]) ** 2).sum()) for k in range(size)] for j in range(size)]
    sigma2 = sum(dist[j][k] for j in range(size) for k in range(size) if j != k) / (size * size - size)

    def kern(j: int, k: int) -> float:
        return sum(math.exp(-dist[j][k] / (2 * a * sigma2)) for a in DEFAULT_MULTIPLIERS)

    ss = sum(kern(j, k) for j in range(n) for k in range(n) if j != k) / (n * n - n)
    tt = sum(kern(j, k) for j in range(n, size) for k in range(n, size) if j != k) / (m * m - m)
    st = sum(kern(j, k) for j in range(n) for k in range(n, size)) / (n * m)
    return ss + tt - 2 * st


def test_matches_double_loop():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(7, 5, generator=g), torch.randn(9, 5, generator=g) + 0.5
    assert mk_mmd(s, t).item() == pytest.approx(_loop_mmd(s, t), rel=1e-5, abs=1e-6)


def test_near_zero_for_same_distribution_and_grows_with_shift():
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(400, 16, generator=g), torch.randn(400, 16, generator=g)
    same = mk_mmd(s, t).item()
    assert abs(same) < 0.02
    values = [mk_mmd(s, t + shift).item() for shift in (0.25, 0.5, 1.0, 2.0)]
    assert values[0] > same + 0.01
    assert all(a < b for a, b in zip(values, values[1:]))


def test_symmetric():
    g = torch.Generator().manual_seed(2)
    s = torch.randn(50, 8, generator=g)
    t = torch.randn(60, 8, generator=g) * 2
    assert mk_mmd(s, t).item() == pytest.approx(mk_mmd(t, s).item(), rel=1e-5)


def test_numerically_stable():
    big = torch.randn(32, 64) * 1e4
    assert torch.isfinite(mk_mmd(big, big + 1e4)).all()
    same = torch.ones(10, 4)  # all distances zero: bandwidth guarded, result finite
    assert torch.isfinite(mk_mmd(same, same.clone())).all()
    d = squared_distances(torch.randn(20, 3) * 1e3)
    assert (d >= 0).all() and (d.diagonal() == 0).all()


def test_gradients_reach_both_samples_but_not_bandwidth():
    s = torch.randn(10, 4, requires_grad=True)
    t = (torch.randn(12, 4) + 1).requires_grad_()
    mk_mmd(s, t).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is not None and t.grad.abs().sum() > 0
    assert torch.isfinite(s.grad).all() and torch.isfinite(t.grad).all()


def test_rejects_tiny_or_mismatched_samples():
    with pytest.raises(ValueError):
        mk_mmd(torch.randn(1, 3), torch.randn(5, 3))
    with pytest.raises(ValueError):
        mk_mmd(torch.randn(4, 3), torch.randn(5, 2))


def test_distinct_items_drops_padding_and_duplicates():
    batch = torch.tensor([[0, 0, 3, 5], [5, 2, 3, 0]])
    assert distinct_items(batch).tolist() == [2, 3, 5]

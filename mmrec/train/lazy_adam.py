"""Row-sparse AdamW for large embedding tables: a step costs what the batch touched, not what the tables hold.

Dense AdamW over a 1M-user / 200k-item CTR model rewrites every row of every table (and zeroes a dense gradient of
the same size) at every step, so a step's cost follows the table size, not the batch: 1.8k samples / s at 20M
interactions against 30k at 1M (``benchmarks/results/scale.md``). :func:`use_sparse_embeddings` switches the
model's large ``nn.Embedding`` tables to sparse gradients, and :class:`LazyAdamW` updates a sparse-gradient
parameter only in the rows the step looked up ("lazy" Adam, as TensorFlow's LazyAdam / torch's SparseAdam): those
rows' moments, bias correction by the parameter's step count, and decoupled weight decay on those rows. Dense
gradients get exactly AdamW's update, so one optimizer serves the whole model and one state dict checkpoints it.

What differs from dense AdamW, by design: an untouched row keeps its weight (no decay, no momentum drift) and its
moments; tables too small to matter (``min_rows``) stay dense, so small-data results are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def use_sparse_embeddings(model: nn.Module, min_rows: int | None) -> list[str]:
    """Make every trainable ``nn.Embedding`` of ``model`` with at least ``min_rows`` rows produce sparse
    gradients; returns their module names (None: none). A table also read densely elsewhere (``weight[...]``,
    a matmul with all rows) still gets a dense gradient: PyTorch accumulates the two into a dense one."""
    if min_rows is None:
        return []
    switched = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Embedding) and module.weight.requires_grad and module.num_embeddings >= min_rows:
            module.sparse = True
            switched.append(name)
    return switched


class LazyAdamW(torch.optim.Optimizer):
    """AdamW (decoupled weight decay, bias-corrected moments) with row-lazy updates for sparse gradients."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2):
        if lr <= 0 or eps <= 0 or weight_decay < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"LazyAdamW: invalid lr {lr}, betas {betas}, eps {eps} or weight_decay {weight_decay}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2), eps, decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                t = float(state["step"])
                correction1, correction2 = 1 - beta1 ** t, (1 - beta2 ** t) ** 0.5
                m, v = state["exp_avg"], state["exp_avg_sq"]
                if p.grad.is_sparse:
                    grad = p.grad.coalesce()
                    rows, values = grad.indices()[0], grad.values()
                    m_rows = m[rows].mul_(beta1).add_(values, alpha=1 - beta1)
                    v_rows = v[rows].mul_(beta2).addcmul_(values, values, value=1 - beta2)
                    m[rows], v[rows] = m_rows, v_rows
                    w = p[rows].mul_(1 - lr * decay)
                    w.addcdiv_(m_rows, v_rows.sqrt().div_(correction2).add_(eps), value=-lr / correction1)
                    p[rows] = w
                else:
                    grad = p.grad
                    p.mul_(1 - lr * decay)
                    m.mul_(beta1).add_(grad, alpha=1 - beta1)
                    v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                    p.addcdiv_(m, v.sqrt().div_(correction2).add_(eps), value=-lr / correction1)
        return loss

"""Expert blocks the multi-domain models share (MMoE / PLE / ME-MMoE / Crocodile): MLP experts and softmax gates."""

from __future__ import annotations

import torch
from torch import nn

from mmrec.models.zoo.base import MLPConfig, mlp, mlp_width


class Experts(nn.Module):
    """``n`` MLP experts (no output layer) on one (B, D_in) input -> (B, n, H)."""

    def __init__(self, n: int, input_dim: int, config: MLPConfig):
        super().__init__()
        if n < 1:
            raise ValueError(f"an expert block needs at least one expert, got {n}")
        self.experts = nn.ModuleList(mlp(input_dim, config, output_dim=None) for _ in range(n))
        self.width = mlp_width(input_dim, config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([expert(x) for expert in self.experts], 1)


def mix(experts: torch.Tensor, gate_logits: torch.Tensor) -> torch.Tensor:
    """Σ_k softmax_k(gate) · expert_k: (B, n, H) experts, gate logits (B, n) (one weight per expert) or (B, n, H)
    (element-wise weights, Crocodile) -> (B, H)."""
    weights = torch.softmax(gate_logits, dim=1)
    if weights.dim() == 2:
        weights = weights.unsqueeze(-1)
    return (weights * experts).sum(1)


def domain_gates(n_domains: int, input_dim: int, n_experts: int) -> nn.ModuleList:
    """One linear softmax gate per domain (MMoE's per-task gate, a task being a domain here)."""
    return nn.ModuleList(nn.Linear(input_dim, n_experts) for _ in range(n_domains))

"""Crocodile (cross-expert covariance loss for disentangled multi-embedding learning; ZOO.md §4 [paper]).

ME-MMoE's M embedding sets and experts (expert m reads set m only), plus
- the cross-expert covariance loss  λ · Σ_{m<m'} ‖Cov(E^m, E^m')‖_F²  over the batch, which pushes the sets to
  carry different (uncorrelated) information;
- the domain-prior element-wise gate: domain d's weights over the M experts are a softmax over m, per hidden
  element h, of a learned per-domain prior P_d (M × H) plus a linear map of the sample's set-0 embeddings.

Assumed where the summaries are silent: Cov is taken per field (the d × d covariance of a field's embeddings in
sets m and m' over the batch; the loss sums the fields), λ = ``cov_weight`` = 1, the prior starts at 0 (uniform).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from mmrec.models.zoo.multidomain.base import ZooOutputs
from mmrec.models.zoo.multidomain.me_mmoe import MEMMoE, MEMMoEConfig


@dataclasses.dataclass
class CrocodileConfig(MEMMoEConfig):
    cov_weight: float = 1.0


def cross_covariance(sets: list[torch.Tensor]) -> torch.Tensor:
    """Σ_{m<m'} Σ_fields ‖Cov(E^m_f, E^m'_f)‖_F² for M (B, F, d) embedding batches (covariance over the batch)."""
    centred = [e - e.mean(0, keepdim=True) for e in sets]
    scale = 1.0 / max(sets[0].shape[0] - 1, 1)
    total = sets[0].new_zeros(())
    for m in range(len(centred)):
        for n in range(m + 1, len(centred)):
            cov = torch.einsum("bfi,bfj->fij", centred[m], centred[n]) * scale
            total = total + cov.pow(2).sum()
    return total


class DomainPriorGate(nn.Module):
    """Element-wise gate logits (B, M, H) = P_d + W x for one domain d."""

    def __init__(self, input_dim: int, n_experts: int, width: int):
        super().__init__()
        self.n_experts, self.width = n_experts, width
        self.prior = nn.Parameter(torch.zeros(n_experts, width))
        self.linear = nn.Linear(input_dim, n_experts * width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prior + self.linear(x).view(-1, self.n_experts, self.width)


class Crocodile(MEMMoE):
    model_type = "zoo_crocodile"
    config_class = CrocodileConfig

    def make_gates(self) -> nn.ModuleList:
        return nn.ModuleList(DomainPriorGate(self.input_dim, self.config.num_embeddings, self.expert_width)
                             for _ in range(self.n_domains))

    def outputs(self, batch: dict[str, torch.Tensor]) -> ZooOutputs:
        embeddings = self.set_embeddings(batch)
        logits = self.expert_logits(batch, embeddings)
        aux = {"cov": self.config.cov_weight * cross_covariance(embeddings)} if self.training else {}
        return ZooOutputs(logits, aux)

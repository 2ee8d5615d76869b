"""The two-logit head: any zoo model scores ``[z_neg, z_pos]`` (B, 2) instead of one logit, for the JRC loss.

JRC (Sheng et al. 2023; ZOO.md §2) reads two logits per sample: the click probability is softmax's positive
entry, σ(z_pos − z_neg), and its ranking term is a softmax over the batch in each label's column, which uses the
shift the difference leaves free. The head keeps the model's own logit z as that difference and learns the shift
per sample: z_neg = w·vec(E) + b over the flattened field embeddings, z_pos = z + z_neg. Zero-initialised, so a
fresh two-logit model scores exactly as its one-logit twin. (Assumed: JRC's paper puts both logits on the last
layer; a linear shift keeps this a head any model can carry, whatever its last layer is.)
"""

from __future__ import annotations

import torch
from torch import nn


def click_logit(logits: torch.Tensor) -> torch.Tensor:
    """(B,) click logits; (B, 2) two-logit outputs [z_neg, z_pos] give z_pos − z_neg."""
    return logits[:, 1] - logits[:, 0] if logits.dim() == 2 else logits


class TwoLogitHead(nn.Module):
    """``(emb (B, F, d), z (B,)) -> (B, 2) = [z_neg, z + z_neg]`` with z_neg linear in the embeddings."""

    def __init__(self, input_dim: int):
        super().__init__()
        # zeros built directly (no random init drawn), so the model's other layers get the same init as without
        self.weight, self.bias = nn.Parameter(torch.zeros(input_dim)), nn.Parameter(torch.zeros(()))

    def forward(self, emb: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        z_neg = emb.flatten(1) @ self.weight + self.bias
        return torch.stack([z_neg, logits + z_neg], 1)

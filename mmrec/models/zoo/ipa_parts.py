"""The IPA framework's parts (ZOO.md §2, [paper]): interaction function, layer pooling, layer aggregator.

Field embeddings t_i ∈ R^K (B, F, K). An **interaction function** f(t_i, t_j) crosses two fields:

- ``naive``      t_i ⊙ t_j
- ``weighted``   r_ij · t_i ⊙ t_j           (one scalar per field pair: FwFM)
- ``diagonal``   t_i ⊙ w_ij ⊙ t_j           (one K-vector per pair: FvFM)
- ``projected``  (t_i W_ij) ⊙ t_j           (one K×K matrix per pair: FmFM; in cross pooling, DCNv2)

A **layer pooling** builds the next order from the last one:

- ``pairs``: one layer of every pair i < j, f(t_i, t_j): (B, F(F−1)/2, K) (FM, FwFM, FvFM, FmFM);
- ``cross``: t_i^{l+1} = t_i^0 ⊙ (Σ_j W^l_ij t_j^l + b^l_i) + t_i^l, order l+1 per field, ``layers`` times, with the
  pair maps W_ij the interaction's (I, r_ij I, diag w_ij, or free K×K): with ``projected`` this is DCNv2's
  full-rank cross layer x0 ⊙ (W x + b) + x on the flattened fields, block (i, j) of W being W_ij.

A **layer aggregator** turns the layers into the classifier's input: ``concat`` (all layers side by side), ``sum``
(their element-wise sum; cross layers only, they share a shape) or ``last``.

Assumed where the paper summary is silent: the per-pair parameters of the parametrised functions start at the
naive function (r = 1, w = 1, W = I) in ``pairs`` pooling; in ``cross`` pooling every kind starts Xavier-normal
scaled as DCNv2's full (F·K)² matrix, and b at 0.
"""

from __future__ import annotations

import torch
from torch import nn

INTERACTIONS = ("naive", "weighted", "diagonal", "projected")
POOLINGS = ("pairs", "cross")
AGGREGATORS = ("concat", "sum", "last")


def field_pairs(num_fields: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Index vectors (left, right) of every pair i < j, row-major."""
    left, right = torch.triu_indices(num_fields, num_fields, offset=1)
    return left, right


class PairInteraction(nn.Module):
    """``pairs`` pooling: f(t_i, t_j) for every i < j, (B, F, K) -> (B, P, K)."""

    def __init__(self, kind: str, num_fields: int, dim: int):
        super().__init__()
        self.kind = kind
        left, right = field_pairs(num_fields)
        self.register_buffer("left", left, persistent=False)
        self.register_buffer("right", right, persistent=False)
        n = len(left)
        if kind == "weighted":
            self.r = nn.Parameter(torch.ones(n))
        elif kind == "diagonal":
            self.w = nn.Parameter(torch.ones(n, dim))
        elif kind == "projected":
            self.W = nn.Parameter(torch.eye(dim).repeat(n, 1, 1))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        a, b = t[:, self.left], t[:, self.right]
        if self.kind == "weighted":
            return self.r[:, None] * a * b
        if self.kind == "diagonal":
            return a * self.w * b
        if self.kind == "projected":
            return torch.einsum("bpk,pkl->bpl", a, self.W) * b
        return a * b


class CrossPooling(nn.Module):
    """``cross`` pooling, ``layers`` times: x_{l+1} = x_0 ⊙ (x_l Wᵀ + b) + x_l on the flattened (B, F·K) fields,
    W (F·K × F·K) assembled from the interaction's pair maps. Returns every layer's output, (B, F, K) each."""

    def __init__(self, kind: str, num_fields: int, dim: int, layers: int):
        super().__init__()
        self.kind, self.num_fields, self.dim = kind, num_fields, dim
        width = num_fields * dim
        std = (1.0 / width) ** 0.5  # Xavier-normal of a (width × width) matrix
        shapes = {"naive": None, "weighted": (num_fields, num_fields), "diagonal": (num_fields, num_fields, dim),
                  "projected": (width, width)}
        shape = shapes[kind]
        self.weights = nn.ParameterList(nn.Parameter(torch.randn(shape) * std) for _ in range(layers)) \
            if shape is not None else None
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(width)) for _ in range(layers))
        self.register_buffer("eye", torch.eye(dim), persistent=False)

    def matrix(self, layer: int) -> torch.Tensor:
        """W of one layer, (F·K, F·K): block (i, j) = I, r_ij I, diag(w_ij) or the free block."""
        f, k = self.num_fields, self.dim
        if self.kind == "projected":
            return self.weights[layer]
        if self.kind == "naive":
            blocks = self.eye.expand(f, f, k, k)
        elif self.kind == "weighted":
            blocks = self.weights[layer][:, :, None, None] * self.eye
        else:
            blocks = torch.diag_embed(self.weights[layer])
        return blocks.permute(0, 2, 1, 3).reshape(f * k, f * k)

    def forward(self, t: torch.Tensor) -> list[torch.Tensor]:
        x0 = x = t.flatten(1)
        out = []
        for layer, bias in enumerate(self.biases):
            x = x0 * (x @ self.matrix(layer).T + bias) + x
            out.append(x.view_as(t))
        return out


def aggregate(layers: list[torch.Tensor], how: str) -> torch.Tensor:
    """The classifier's input (B, ·) from the layers' outputs."""
    if how == "last":
        return layers[-1].flatten(1)
    if how == "sum":
        return torch.stack(layers, 0).sum(0).flatten(1)
    return torch.cat([layer.flatten(1) for layer in layers], 1)

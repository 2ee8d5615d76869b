"""The triple-expert item side of CTR models: ID, aligned content and Mixture-of-Codes, gated by item frequency.

Three item experts of the model's width d (METHODS.md §1 and §2, "where they meet"):

1. ID: a learned vector per item (:class:`~mmrec.items.base.IDEmbedding`);
2. aligned content: PAD's projector P (a GELU MLP, ``alignment.ContentItems``) over a frozen, L2-normalised content
   table: the text embedding, or a PAD-aligned item table saved in the same ``<name>.safetensors`` layout;
3. codes (optional): the item's Mixture-of-Codes semantic ID from the quantize stage
   (:class:`~mmrec.items.codes.SemanticIDRepresentation`: a table per (codebook, level), fused by the
   self-gating bottleneck).

PAD's frequency gate (:class:`~mmrec.items.gate.FrequencyGate`, the one PAD uses) weighs them per item-frequency bin: bins of equal
interaction mass over the CTR training events plus a bin for never-seen items, w_k = σ(a_k[b]) / Σ_j σ(a_j[b]).
The item vector is Σ_k w_k e_k(i), d-wide, so it stands in for the ID table of any CTR model, for the target and
every history item alike. Never-seen items get no ID weight (their ID rows were never trained): they are their
content and codes, so a never-seen target still gets a score that depends on what it is.

**Decision** (gate initialisation): PAD's released logits run from the most popular bin to the never-seen one as
a_ID = linspace(1, 0) and a_text = linspace(0, 1); both content-derived experts here (aligned content and codes)
start from a_text, so popular bins lean on the ID and the tail and never-seen bins on content and codes. PAD's
third row (linspace(-4, -5)) belongs to its ID ⊕ content tower, which this item side does not have.
``cold_dropout`` serves a random share of items without their ID at each training forward, so the path that
never-seen items take at test time (and the never-seen bin's gate) is trained rather than left at its start.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from alignment.align import ContentItems, ProjectorConfig
from mmrec.items.base import IDEmbedding, ItemRepresentation
from mmrec.items.codes import SemanticIDRepresentation
from mmrec.items.cold import never_seen_mask, sample_cold
from mmrec.items.gate import FrequencyGate, gate_positions, initial_gate_logits


def triple_gate_logits(n_positions: int, with_codes: bool) -> torch.Tensor:
    """(K, P) starting logits: PAD's ID row for the ID expert, its text-expert row for content (and codes)."""
    id_row, _, content_row = initial_gate_logits(n_positions)
    return torch.stack([id_row, content_row, *([content_row] if with_codes else [])])


class TripleExpertItems(ItemRepresentation):
    """Σ_k w_k(bin(i)) e_k(i) over the ID, aligned-content and (given ``codes``) code experts.

    ``item_counts``: (N + 1,) training events per item index (index 0 = padding); ``content``: (N + 1, d_c)
    content table (rows of items without content are zero); ``codes``: (N + 1, n_codebooks, levels) from the
    quantize stage (row 0 = padding), or None for two experts.
    """

    def __init__(self, item_counts: torch.Tensor, content: torch.Tensor, dim: int, codes: torch.Tensor | None = None,
                 n_bins: int = 10, projector_layers: int = 2, projector_dropout: float = 0.1,
                 cold_dropout: float = 0.0):
        super().__init__()
        n_rows = len(item_counts)
        if content.ndim != 2 or content.shape[0] != n_rows:
            raise ValueError(f"content must be (N + 1, d) with N + 1 = {n_rows} rows (item_counts), "
                             f"got {tuple(content.shape)}")
        if codes is not None and (codes.ndim != 3 or codes.shape[0] != n_rows):
            raise ValueError(f"codes must be (N + 1, n_codebooks, levels) with N + 1 = {n_rows} rows, "
                             f"got {tuple(codes.shape)}")
        if not 0.0 <= cold_dropout < 1.0:
            raise ValueError(f"cold_dropout must be in [0, 1), got {cold_dropout}")
        self.n_items, self.dim = n_rows - 1, dim
        self.n_bins, self.cold_dropout = n_bins, cold_dropout
        self.projector_layers, self.projector_dropout = projector_layers, projector_dropout
        self.register_buffer("item_counts", torch.as_tensor(item_counts, dtype=torch.long).clone())
        self.register_buffer("never_seen", never_seen_mask(self.item_counts.cpu().numpy()), persistent=False)
        self.id_expert = IDEmbedding(self.n_items, dim)
        self.content_expert = ContentItems(F.normalize(content.float(), dim=-1),
                                           ProjectorConfig(content.shape[1], dim, projector_layers, projector_dropout))
        self.code_expert = (SemanticIDRepresentation(codes, dim, int(codes[1:].max()) + 1)
                            if codes is not None else None)
        positions, n_positions = gate_positions(self.item_counts.cpu().numpy(), n_bins)
        self.gate = FrequencyGate(positions, n_positions, initial=triple_gate_logits(n_positions, codes is not None))

    @property
    def content(self) -> torch.Tensor:
        """The (normalised) content table the aligned expert projects."""
        return self.content_expert.content

    @property
    def codes(self) -> torch.Tensor | None:
        return None if self.code_expert is None else self.code_expert.codes

    def experts(self) -> list[nn.Module]:
        """The experts in gate order: ID, content, then codes when present."""
        return [self.id_expert, self.content_expert, *([self.code_expert] if self.code_expert is not None else [])]

    def cold_items(self) -> torch.Tensor:
        """(N + 1,) items served without their ID: never seen in training, plus a random ``cold_dropout`` share of
        the others while training (resampled at every call)."""
        return sample_cold(self.never_seen, self.cold_dropout, self.training)

    def weights(self, items: torch.Tensor) -> torch.Tensor:
        """(..., K) gate weights of ``items`` (ID, content[, codes]); they sum to 1."""
        return self.gate(items, self.cold_items())

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        vectors = torch.stack([expert(items) for expert in self.experts()], dim=-1)  # (..., d, K)
        mixed = (vectors * self.weights(items).unsqueeze(-2)).sum(-1)
        return mixed * (items != 0).unsqueeze(-1).to(mixed.dtype)

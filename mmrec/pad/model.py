"""PAD's disentangle step: triple experts (ID, aligned, content) mixed by a frequency-aware gate.

Each expert is a full backbone (SASRec, GRU4Rec, ...) with its own item table and sequence encoder, scoring
s_k = <u_k, e_k(i)>. Items are cut into frequency bins of equal interaction mass plus a never-seen bin; each
expert has a logit a_k[b] per bin and w_k = σ(a_k[b]) / Σ_j σ(a_j[b]); score = Σ_k w_k s_k.

Because the bin gate depends on the item only, score = <[u_1; u_2; u_3], [w_1 e_1; w_2 e_2; w_3 e_3]>: PAD is
itself a ``SequentialRecommender`` whose user vector is the experts' concatenated and whose item representation
is the gated concatenation, so the shared trainer, losses and evaluation apply unchanged.

With ``gate="user"`` the weights also see the user (an MLP over [bin one-hot; u], started at the bin gate);
the score stays one inner product by giving every bin its own block: the user side holds w_k(u, b) u_k in
block b, an item's vector is [e_1; e_2; e_3] in the block of its bin (P times wider, so slower to score).

Cold items (no trained ID row) have no ID-expert weight and reach the score through the aligned expert (which
uses P(t) in place of e') and the content expert. ``cold_dropout`` serves a random share (global torch RNG, seeded
by the trainer) of the warm items as cold at every training step: ID rows hidden and the gate at its never-seen
position, so the cold path and the never-seen position's logits are trained, not left at initialisation.

A PAD is built from its config, the experts' architecture and the training count of every item (kept as the
``item_counts`` buffer, from which the bins are cut), so ``save_pretrained`` / ``mmrec.hub.load_model`` need no
training data. :meth:`PAD.from_anchor` builds one from a trained anchor and aligned tower.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from mmrec.core.precision import Precision, autocast
from mmrec.items.cold import ColdItemsMixin, never_seen_mask
from mmrec.items.gate import BinBlockItems, FrequencyGate, GatedExpertItems, UserAwareGate, gate_positions
from mmrec.models.base import SequentialRecommender
from mmrec.pad.config import PADConfig
from mmrec.pad.experts import Experts, SavesExperts
from mmrec.pad.tower import AlignedTower


class PAD(ColdItemsMixin, SavesExperts, SequentialRecommender):
    """Triple experts ``experts[0..2]`` = ID, aligned, content, each a backbone; user vector = their concatenation.

    ``item_counts``: training interactions per item index 0..N. The experts start from zero tables and zero
    content (see :class:`~mmrec.pad.experts.Experts`); :meth:`from_anchor` copies the pre-trained weights in.
    """

    model_type = "pad"
    scores_unseen_items = True  # the content expert
    V1_EXPERT_KEY, V1_SETTINGS = "experts", ("n_bins", "gate", "gate_hidden", "cold_dropout")

    def __init__(self, config: PADConfig, experts: Experts, item_counts: np.ndarray | torch.Tensor):
        super().__init__()
        config.validate()
        self.config, self.cold_dropout, self.architecture = config, config.cold_dropout, experts
        counts = np.asarray(item_counts)
        if counts.ndim != 1 or len(counts) < 2 or (counts < 0).any():
            raise ValueError(f"item_counts must be one non-negative count per item index 0..N (N >= 1), "
                             f"got shape {list(counts.shape)}")
        self.register_buffer("item_counts", torch.tensor(counts, dtype=torch.int64))
        self.n_items = len(counts) - 1
        # the aligned expert is built last: the tower's weights always replace its initial ones, so the
        # content expert's initialisation does not depend on the aligned expert's architecture
        id_expert, content_expert = experts.id_expert(self.n_items), experts.content_expert(self.n_items)
        self.experts = nn.ModuleList([id_expert, experts.aligned_expert(self.n_items), content_expert])
        self.max_len = id_expert.max_len
        positions, n_positions = gate_positions(counts, config.n_bins)
        reprs = [e.item_repr for e in self.experts]
        if config.gate == "user":
            self.item_repr = BinBlockItems(reprs, positions, n_positions)
            self.user_gate = UserAwareGate(n_positions, self.item_repr.expert_dim, config.gate_hidden)
        else:
            self.item_repr = GatedExpertItems(
                reprs, FrequencyGate(positions, n_positions, learnable=config.gate == "frequency"))
        self.register_buffer("never_seen", never_seen_mask(counts))
        self.resample_cold()

    @classmethod
    def from_anchor(cls, anchor: SequentialRecommender, tower: AlignedTower, content: torch.Tensor,
                    item_counts: np.ndarray, config: PADConfig) -> "PAD":
        """Triple experts: ID (anchor copy), aligned (tower copy), content (fresh projector + fresh encoder).

        ``content``: the content expert's input (``config.content_expert_sources()``); the aligned expert's comes
        with the tower."""
        experts = Experts(config, tower.architecture.backbone_config, tower.architecture.content_dim, content.shape[1])
        pad = cls(config, experts, item_counts)
        id_expert, aligned_expert, content_expert = pad.experts
        id_expert.load_state_dict(anchor.state_dict())  # same keys: the ID table and the encoder
        aligned_expert.load_state_dict(tower.backbone.state_dict())
        content_expert.item_repr.load_content(content)
        return pad

    def cold_reprs(self) -> list[nn.Module]:
        return [self.item_repr, *(e.item_repr for e in self.experts)]

    def forward(self, histories: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.resample_cold()
        return self.encode_sequence(histories)

    def encode_sequence(self, histories: torch.Tensor) -> torch.Tensor:
        return self._gated(torch.cat([e.encode_sequence(histories) for e in self.experts], dim=-1))

    def encode_history(self, histories: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """``encode_sequence(histories)[:, -1]``, each expert encoding the last position alone (scoring); ``items``
        is PAD's gated matrix, not an expert's, so the experts gather from theirs only through ``scorer``."""
        return self._experts_last(histories, [None] * len(self.experts))

    def scorer(self, precision: Precision = "fp32") -> Callable[[torch.Tensor], torch.Tensor]:
        """Each expert's item matrix and the gated one, once per evaluation; the experts' encoders in
        ``precision``, the scores fp32."""
        with torch.no_grad():
            tables = [e.item_repr.all_items() for e in self.experts]
            items = self.item_repr.all_items()

        def score(histories: torch.Tensor) -> torch.Tensor:
            with autocast(precision, items.device):
                users = self._experts_last(histories, tables)
            return users.float() @ items.T

        return score

    def _experts_last(self, histories: torch.Tensor, tables: list[torch.Tensor | None]) -> torch.Tensor:
        return self._gated(torch.cat([e.encode_history(histories, t) for e, t in zip(self.experts, tables)], dim=-1))

    def _gated(self, users: torch.Tensor) -> torch.Tensor:
        """The experts' concatenated user vectors, weighted per bin by the user-aware gate when there is one."""
        if self.config.gate != "user":
            return users
        dims = torch.tensor([e.item_repr.dim for e in self.experts], device=users.device)
        weights = self.user_gate(users).repeat_interleave(dims, dim=-1)  # (..., P, D): w_k(u, b) on u_k's dims
        return (weights * users.unsqueeze(-2)).flatten(-2)

    def set_never_seen_share(self, share: float | None, learned: torch.Tensor | None = None) -> None:
        """The never-seen gate position weighs aligned : content = share : 1 - share (the ID expert has no weight
        there); ``share`` None puts back ``learned`` (that position's logits as trained). Frequency gate only."""
        if self.config.gate != "frequency":
            raise ValueError(f"the never-seen share is a setting of the frequency gate, this PAD has gate "
                             f"'{self.config.gate}'")
        gate = self.item_repr.gate
        with torch.no_grad():
            if share is None:
                gate.logits[:, gate.cold_position] = learned
            else:  # σ(a_aligned) : σ(a_content) = share : 1 - share
                gate.logits[1:, gate.cold_position] = torch.logit(torch.tensor([share, 1.0 - share]) * 0.98)
        self.config = dataclasses.replace(self.config, never_seen_share=share)  # saved with the model

    def expert_weights(self) -> torch.Tensor:
        """(N+1, 3) current gate weights per item (ID, aligned, content); item-only gates."""
        if self.config.gate == "user":
            raise ValueError("the user-aware gate's weights depend on the user: call user_gate(u)")
        return self.item_repr.weights(torch.arange(self.n_items + 1, device=self.never_seen.device))

"""DPN, the deep pattern network (ZOO.md §3, spec [paper]) on the typed feature layer: behaviour *patterns*
(short windows of consecutive behaviours) instead of single behaviours.

1. Target-pattern retrieval: scaled dot-product target-attention scores s_i = ⟨W_q q, W_k b_i⟩ / √D over the
   history, keep the top ``top_k`` real behaviours; pattern k = the window of ``pattern_length`` behaviours ending
   at the kept one (slots before the first event are padding).
2. Pattern refinement: a small Transformer (learned slot positions) over each window; the refined pattern is its
   output at the kept behaviour. It is pre-trained by self-supervised denoising (:meth:`DPN.denoising_loss`:
   corrupt window tokens with a mask vector, reconstruct each corrupted behaviour's item ID by a softmax over the
   item table; the loop is :func:`mmrec.train.pattern_pretrain.pretrain_patterns`).
3. Target pattern attention: query = W [target ⊕ mean of the ``recent`` most recent behaviours]; logits
   ⟨query, pattern_k⟩ / √D + s_k (the retrieval score, so retrieval gets a gradient), softmax over real patterns;
   the interest joins every flat field's embedding in the MLP tower (DNN settings), one linear head.

Assumed where the paper is silent: the scorer of step 1 (a bilinear form, not DIN's MLP: a top-k needs one cheap
score per behaviour), the refined pattern read at its last slot, and the reconstruction target (item IDs).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from mmrec.models.zoo.base import ZooModel, mlp
from mmrec.models.zoo.history import HistoryConfig, HistoryReader


@dataclasses.dataclass
class DPNConfig(HistoryConfig):
    top_k: int = 4                # behaviours kept by retrieval
    pattern_length: int = 3       # L: behaviours per pattern window (ending at the kept one)
    recent: int = 3               # most recent behaviours averaged into the pattern-attention query
    model_dim: int = 32
    num_heads: int = 2
    num_layers: int = 1
    corrupt_rate: float = 0.3     # denoising: share of window tokens replaced by the mask vector
    pretrain_epochs: int = 2      # denoising epochs before the CTR fit (0 = no pre-training)
    pretrain_lr: float = 1e-3


class DPN(ZooModel):
    model_type = "zoo_dpn"
    config_class = DPNConfig

    def __init__(self, config: DPNConfig, feature_map, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        if config.top_k < 1 or config.pattern_length < 1 or config.recent < 1:
            raise ValueError("top_k, pattern_length and recent must be >= 1")
        self.history = HistoryReader(self.features, config)
        width, dim = self.history.width, config.model_dim
        self.item_key = self.history.keys[0]  # the first history field's IDs are what denoising reconstructs
        self.item_field = config.target_fields[0]
        self.retrieve_query, self.retrieve_key = nn.Linear(width, dim), nn.Linear(width, dim)
        self.token = nn.Linear(width, dim)
        self.slots = nn.Parameter(torch.randn(config.pattern_length, dim) * 0.02)
        self.mask_token = nn.Parameter(torch.randn(dim) * 0.02)
        self.refine = nn.ModuleList(
            nn.TransformerEncoderLayer(dim, config.num_heads, 2 * dim, dropout=0.0, batch_first=True, norm_first=True)
            for _ in range(config.num_layers))
        self.reconstruct = nn.Linear(dim, config.embed_dim)
        self.query = nn.Linear(2 * width, dim)
        self.tower = mlp(self.features.num_fields * config.embed_dim + dim, config)

    def retrieval_scores(self, target: torch.Tensor, behaviours: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, n) target-attention scores, −inf at padded behaviours."""
        scores = (self.retrieve_query(target).unsqueeze(1) * self.retrieve_key(behaviours)).sum(-1)
        return (scores / math.sqrt(self.config.model_dim)).masked_fill(~mask, -math.inf)

    def retrieve(self, scores: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Top-k ends (B, k), whether each is a real behaviour (B, k), and the windows' positions (B, k, L) with
        their validity (B, k, L): window k covers end − L + 1 .. end."""
        k = min(self.config.top_k, scores.shape[1])
        ends = scores.topk(k, -1).indices
        kept = mask.gather(1, ends)
        offsets = torch.arange(self.config.pattern_length - 1, -1, -1, device=ends.device)
        positions = ends.unsqueeze(-1) - offsets
        in_range = positions >= 0
        positions = positions.clamp_min(0)
        valid = in_range & mask.gather(1, positions.flatten(1)).view_as(positions)
        return ends, kept, positions, valid

    def refine_windows(self, tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, k, L, D) window tokens -> (B, k, L, D) refined; the last slot is always attendable."""
        b, k, length, dim = tokens.shape
        x = (tokens + self.slots).view(b * k, length, dim)
        padding = ~valid.view(b * k, length).clone()
        padding[:, -1] = False
        for layer in self.refine:
            x = layer(x, src_key_padding_mask=padding)
        return x.view(b, k, length, dim)

    def _windows(self, behaviours: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        b, k, length = positions.shape
        picked = behaviours.gather(1, positions.view(b, k * length, 1).expand(-1, -1, behaviours.shape[-1]))
        return self.token(picked).view(b, k, length, -1)

    def patterns(self, emb) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Refined patterns (B, k, D), their retrieval scores (B, k), which are real (B, k), the query (B, D)
        and the window positions (B, k, L)."""
        behaviours, mask = self.history.behaviours(emb)
        target = self.history.target(emb)
        scores = self.retrieval_scores(target, behaviours, mask)
        ends, kept, positions, valid = self.retrieve(scores, mask)
        refined = self.refine_windows(self._windows(behaviours, positions), valid)[:, :, -1]
        recent, recent_mask = behaviours[:, -self.config.recent:], mask[:, -self.config.recent:].unsqueeze(-1)
        recent_mean = (recent * recent_mask).sum(1) / recent_mask.sum(1).clamp_min(1)
        query = self.query(torch.cat([target, recent_mean], -1))
        return refined, scores.gather(1, ends).masked_fill(~kept, 0.0), kept, query, positions

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        emb = self.features(batch)
        refined, scores, kept, query, _ = self.patterns(emb)
        logits = (refined * query.unsqueeze(1)).sum(-1) / math.sqrt(self.config.model_dim) + scores
        weights = logits.masked_fill(~kept, -1e9).softmax(-1) * kept
        interest = (weights.unsqueeze(-1) * refined).sum(1)
        return self.tower(torch.cat([emb.flat.flatten(1), interest], 1)).squeeze(-1)

    def denoising_loss(self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None
                       ) -> torch.Tensor:
        """Self-supervised pattern denoising: ``top_k`` windows per row end at random real behaviours; each real
        window token is replaced by the mask vector with probability ``corrupt_rate``; the refined output at a
        corrupted slot must give back that behaviour's item ID (softmax over the item table)."""
        emb = self.features(batch)
        behaviours, mask = self.history.behaviours(emb)
        random = torch.rand(mask.shape, generator=generator).masked_fill(~mask, -math.inf)
        _, _, positions, valid = self.retrieve(random, mask)
        tokens = self._windows(behaviours, positions)
        corrupt = valid & (torch.rand(valid.shape, generator=generator) < self.config.corrupt_rate)
        tokens = torch.where(corrupt.unsqueeze(-1), self.mask_token, tokens)
        refined = self.refine_windows(tokens, valid)[corrupt]
        if not len(refined):
            return refined.sum()
        items = batch[self.item_key][:, -mask.shape[1]:].gather(1, positions.flatten(1)).view_as(positions)
        logits = self.reconstruct(refined) @ self.features.field_table(self.item_field).T
        return F.cross_entropy(logits, items[corrupt])

"""TARQ (SIGIR 2026; ZOO.md §3, the distillation part from zyody/tarq_sigir2026, the rest [paper]): a two-tower
pre-ranker whose user side precomputes target attention for every residual codeword.

Towers: the user tower (MLP over every flat field not in ``item_fields``) gives u, the item tower (MLP over
``item_fields``) gives x; the behaviours (the history's target-field embeddings, projected, plus one learned
always-visible null slot so an empty history is defined, then LayerNorm) are keys and values H. Scores are
⟨u + a, x⟩ / √D + b with the attention part a:

- teacher (full target attention): a = t = MHA(x, H, H), one attention per (user, candidate);
- student: L residual codebooks C_l ∈ R^{K×D} over x, z_l = argmin_k ‖r_{l−1} − C_{l,k}‖² (r_0 = x); once per
  user the table X̄[l, k] = MHA(C_{l,k}, H, H) ∈ R^{L×K×D}; per candidate a = Σ_l X̄[l, z_l]: L lookups.

Loss (``mode: tarq``): BCE(student) + BCE(teacher) + ½·mean‖student − sg(t)‖² + ``kl_weight`` · Σ_l
symKL(softmax(−‖r_{l−1} − C_l‖² / D), softmax(−‖r̄_{l−1} − X̄_l‖² / D)), where the teacher residual r̄_0 = t steps
with the student's chosen codes (r̄_l = r̄_{l−1} − X̄[l, z_l]), + ``codebook_weight`` · Σ_l mean‖sg(r_{l−1}) −
C_{l,z_l}‖² (RQ-VAE's codebook term). The codebooks are trained end to end in torch; before the first training
step they are initialised by FAISS residual k-means (``semantic_ids``) on that batch's item outputs.

Three choices beyond ZOO.md, each because the spec as written did not learn on ml-100k CTR (test AUC 0.668 against
the two-tower's 0.775, benchmarks/results/zoo14b.md): the behaviour embeddings start near zero (std 1e-4), so
without the LayerNorm on H the attention output was ~0.1 % of ‖u‖ and its gradient vanished; squared distances
between D-dimensional vectors are in the tens, so the unscaled softmaxes were one-hot and the alignment's
gradient into the item tower swamped the BCE (÷ D: distances per dimension); and nothing kept the codebooks on
the moving item-tower outputs (the relative quantisation error was 0.8 after two epochs), which the codebook
term does. ``mode: target_attention`` trains and scores the teacher alone (the full-TA baseline) and ``two_tower``
drops attention (⟨u, x⟩): the same towers, so the three differ only in the attention part. :meth:`code_usage`
monitors the codebooks (codes used, entropy, most frequent code per level).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmrec.models.zoo.base import MLPConfig, ZooModel, mlp
from mmrec.models.zoo.history import HistoryConfig, HistoryReader

MODES = ("tarq", "target_attention", "two_tower")


@dataclasses.dataclass
class TARQConfig(HistoryConfig):
    item_fields: list[str] = dataclasses.field(default_factory=lambda: ["item", "category"])  # the item tower's
    tower_units: list[int] = dataclasses.field(default_factory=lambda: [128])
    tower_dim: int = 32           # D: both towers' output and the attention width
    num_heads: int = 2
    levels: int = 3               # L residual codebooks
    codebook_size: int = 64       # K codes per level
    kl_weight: float = 1.0        # w
    codebook_weight: float = 1.0  # the codebooks follow the item tower: Σ_l ‖sg(r_{l−1}) − C_{l,z_l}‖²
    mode: str = "tarq"            # tarq / target_attention (the full-TA teacher alone) / two_tower

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got '{self.mode}'")


def residual_codes(x: torch.Tensor, codebooks: torch.Tensor) -> torch.Tensor:
    """(B, L) greedy residual codes of x (B, D) against codebooks (L, K, D): z_l = argmin ‖r_{l−1} − C_{l,k}‖²."""
    codes, residual = [], x
    for book in codebooks:
        z = torch.cdist(residual, book).argmin(-1)
        codes.append(z)
        residual = residual - book[z]
    return torch.stack(codes, 1)


def symmetric_kl(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """KL(p‖q) + KL(q‖p) of two softmax distributions over the last axis, averaged over the rest."""
    log_p, log_q = p_logits.log_softmax(-1), q_logits.log_softmax(-1)
    return ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(-1).mean()


class TARQ(ZooModel):
    model_type = "zoo_tarq"
    config_class = TARQConfig

    def __init__(self, config: TARQConfig, feature_map, pretrained=None):
        super().__init__(config, feature_map, pretrained)
        self.history = HistoryReader(self.features, config)
        names = self.features.field_names
        missing = [f for f in config.item_fields if f not in names]
        if missing:
            raise ValueError(f"item_fields {missing} are not flat fields (fields: {', '.join(names)})")
        self.item_index = [names.index(f) for f in config.item_fields]
        self.user_index = [k for k, f in enumerate(names) if f not in config.item_fields]
        if not self.user_index:
            raise ValueError(f"item_fields {config.item_fields} leave no flat field for the user tower")
        dim, d = config.tower_dim, config.embed_dim
        tower = MLPConfig(hidden_units=config.tower_units, dropout=config.dropout, batch_norm=config.batch_norm)
        self.user_tower = mlp(len(self.user_index) * d, tower, dim)
        self.item_tower = mlp(len(self.item_index) * d, tower, dim)
        self.keys = nn.Linear(self.history.width, dim)
        self.null = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.key_norm = nn.LayerNorm(dim)  # H on a unit scale whatever the embeddings' init
        self.attention = nn.MultiheadAttention(dim, config.num_heads, batch_first=True)
        self.codebooks = nn.Parameter(torch.randn(config.levels, config.codebook_size, dim) * 0.1)
        self.register_buffer("codebooks_initialised", torch.zeros((), dtype=torch.bool))
        self.bias = nn.Parameter(torch.zeros(1))
        self.terms: dict[str, torch.Tensor] = {}  # a training forward's extra outputs, read by :meth:`loss`

    # --- the two sides -------------------------------------------------------------------------------------
    def user_side(self, emb) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """u (B, D), behaviour keys / values H (B, 1 + n, D) and their mask (null slot first)."""
        flat = emb.flat[:, self.user_index].flatten(1)
        behaviours, mask = self.history.behaviours(emb)
        keys = self.key_norm(torch.cat([self.null.expand(len(flat), -1, -1), self.keys(behaviours)], 1))
        return self.user_tower(flat), keys, torch.cat([mask.new_ones(len(flat), 1), mask], 1)

    def item_side(self, emb) -> torch.Tensor:
        """x (B, D): the item tower's output."""
        return self.item_tower(emb.flat[:, self.item_index].flatten(1))

    def attend(self, queries: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, Q, D) target attention of each query over the user's behaviours."""
        return self.attention(queries, keys, keys, key_padding_mask=~mask, need_weights=False)[0]

    def codeword_table(self, keys: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """X̄ (B, L, K, D): the target attention output of every codeword, once per user."""
        levels, size, dim = self.codebooks.shape
        queries = self.codebooks.reshape(1, levels * size, dim).expand(len(keys), -1, -1)
        return self.attend(queries, keys, mask).view(len(keys), levels, size, dim)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        return residual_codes(x.detach(), self.codebooks.detach())

    @staticmethod
    def lookup(table: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Σ_l X̄[l, z_l]: (B, D) from tables (B, L, K, D) and codes (B, L)."""
        index = codes[:, :, None, None].expand(-1, -1, 1, table.shape[-1])
        return table.gather(2, index).squeeze(2).sum(1)

    def _logit(self, u: torch.Tensor, a: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
        user = u if a is None else u + a
        return (user * x).sum(-1) / math.sqrt(x.shape[-1]) + self.bias

    # --- scoring -----------------------------------------------------------------------------------------------
    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits (B,) of the configured mode; a ``tarq`` training forward also keeps the teacher logit, the
        distillation and the alignment terms for :meth:`loss`."""
        self.terms = {}
        emb = self.features(batch)
        u, keys, mask = self.user_side(emb)
        x = self.item_side(emb)
        mode = self.config.mode
        if mode == "two_tower":
            return self._logit(u, None, x)
        if mode == "target_attention":
            return self._logit(u, self.attend(x.unsqueeze(1), keys, mask).squeeze(1), x)
        if self.training and not bool(self.codebooks_initialised):
            self.initialise_codebooks(x.detach())
        table = self.codeword_table(keys, mask)
        codes = self.codes(x)
        student = self.lookup(table, codes)
        logits = self._logit(u, student, x)
        if self.training:
            teacher = self.attend(x.unsqueeze(1), keys, mask).squeeze(1)
            self.terms = {"teacher_logits": self._logit(u, teacher, x),
                          "distill": 0.5 * (student - teacher.detach()).pow(2).sum(-1).mean(),
                          "align": self._alignment(x, teacher, table, codes),
                          "codebook": self._codebook_term(x, codes)}
        return logits

    def _alignment(self, x: torch.Tensor, teacher: torch.Tensor, table: torch.Tensor,
                   codes: torch.Tensor) -> torch.Tensor:
        """Σ_l symKL(softmax(−‖r_{l−1} − C_l‖² / D), softmax(−‖r̄_{l−1} − X̄_l‖² / D)); r̄ steps with the
        student's codes."""
        total, r, r_bar = x.new_zeros(()), x, teacher
        for level, book in enumerate(self.codebooks):
            item_side = -(r.unsqueeze(1) - book).pow(2).mean(-1)
            attention_side = -(r_bar.unsqueeze(1) - table[:, level]).pow(2).mean(-1)
            total = total + symmetric_kl(item_side, attention_side)
            z = codes[:, level]
            r = r - book[z]
            r_bar = r_bar - table[torch.arange(len(z)), level, z]
        return total

    def _codebook_term(self, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Σ_l mean‖sg(r_{l−1}) − C_{l,z_l}‖²: each chosen codeword moves to the residual it quantises."""
        total, r = x.new_zeros(()), x.detach()
        for level, book in enumerate(self.codebooks):
            chosen = book[codes[:, level]]
            total = total + (r - chosen).pow(2).sum(-1).mean()
            r = r - chosen.detach()
        return total

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """BCE (+ regulariser); in a ``tarq`` training step + teacher BCE + distillation + w · alignment +
        the codebook term."""
        out = super().loss(logits, labels)
        if not self.terms:
            return out
        teacher = F.binary_cross_entropy_with_logits(self.terms["teacher_logits"], labels)
        extra = (teacher + self.terms["distill"] + self.config.kl_weight * self.terms["align"]
                 + self.config.codebook_weight * self.terms["codebook"])
        return {**out, "loss": out["loss"] + extra, "teacher_bce": teacher, "distill": self.terms["distill"],
                "align": self.terms["align"], "codebook": self.terms["codebook"]}

    @torch.no_grad()
    def score_candidates(self, users: dict[str, torch.Tensor], items: dict[str, torch.Tensor]) -> torch.Tensor:
        """(U, M) logits of every candidate for every user (serving): the user side (u and, for ``tarq``, X̄)
        once per user row, the item side once per candidate row, then per pair ⟨u + Σ_l X̄[l, z_l], x⟩ (tarq),
        ⟨u, x⟩ (two_tower) or a full attention per pair (target_attention)."""
        u, keys, mask = self.user_side(self.features(users))
        x = self.item_side(self.features(items))
        if self.config.mode == "two_tower":
            return (u @ x.T) / math.sqrt(x.shape[-1]) + self.bias
        if self.config.mode == "target_attention":
            a = self.attend(x.unsqueeze(0).expand(len(u), -1, -1), keys, mask)  # (U, M, D)
            return ((u.unsqueeze(1) + a) * x).sum(-1) / math.sqrt(x.shape[-1]) + self.bias
        table, codes = self.codeword_table(keys, mask), self.codes(x)
        levels = torch.arange(codes.shape[1])
        a = table[:, levels, codes].sum(2)  # (U, M, D): L lookups per candidate
        return ((u.unsqueeze(1) + a) * x).sum(-1) / math.sqrt(x.shape[-1]) + self.bias

    # --- codebooks ---------------------------------------------------------------------------------------------
    @torch.no_grad()
    def initialise_codebooks(self, x: torch.Tensor) -> None:
        """FAISS residual k-means (``semantic_ids.ResidualQuantizer``) on item outputs x; K must be a power of
        two and x needs at least K rows (else the random init stays until a larger batch comes)."""
        import faiss  # FAISS loads only when codebooks are initialised (as the quantize stage does)
        from semantic_ids.residual import ResidualQuantizer

        levels, size, dim = self.codebooks.shape
        if len(x) < size:
            return
        nbits = size.bit_length() - 1
        if 1 << nbits != size:
            raise ValueError(f"codebook_size must be a power of two for the FAISS initialisation, got {size}")
        quantizer = ResidualQuantizer(dim, levels, nbits, refine=False, niter=10, seed=0)
        quantizer.fit(x.float().cpu().numpy())
        books = faiss.vector_to_array(quantizer.index.rq.codebooks).astype(np.float32)
        self.codebooks.copy_(torch.from_numpy(books).view(levels, size, dim))
        self.codebooks_initialised.fill_(True)

    @torch.no_grad()
    def code_usage(self, batch: dict[str, torch.Tensor]) -> list[dict[str, float]]:
        """Per level, over the batch's items: share of codes used, code entropy (bits; log2 K = uniform) and the
        most frequent code with its share."""
        codes = self.codes(self.item_side(self.features(batch)))
        out = []
        for level in codes.T:
            counts = torch.bincount(level, minlength=self.config.codebook_size).double()
            p = counts / counts.sum()
            nz = p[p > 0]
            out.append({"used": float((counts > 0).double().mean()), "entropy_bits": float(-(nz * nz.log2()).sum()),
                        "top_code": int(counts.argmax()), "top_share": float(p.max())})
        return out

"""SASRec (Kang & McAuley, 2018): causal self-attention over the item history.

Pre-LayerNorm blocks (stabler than the original post-LN with few epochs; a final LayerNorm closes the stack),
learned absolute positions, dropout on embeddings, attention and feed-forward. Item vectors come through the
``ItemRepresentation`` seam and double as the output table: score(i) = <u, e_i>.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from mmrec.core.config import ConfigError
from mmrec.core.sequences import gather_rows
from mmrec.items.base import ItemRepresentation
from mmrec.models.base import SequentialRecommender, default_item_repr
from mmrec.models.dropout import Dropout, dropout


@dataclasses.dataclass
class SASRecConfig:
    n_items: int = 0  # filled in from the data
    dim: int = 64
    n_layers: int = 2
    n_heads: int = 2
    max_len: int = 50
    dropout: float = 0.2
    ffn_mult: int = 4  # feed-forward width = ffn_mult * dim

    def validate(self) -> None:
        if self.dim % self.n_heads:
            raise ConfigError(f"sasrec: dim {self.dim} is not divisible by n_heads {self.n_heads}")


def attention_with_dropout(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, hidden: torch.Tensor | None,
                           p: float) -> torch.Tensor:
    """Causal attention (B, h, L, d_h) with dropout on its weights, as ``scaled_dot_product_attention``'s math
    path computes it, but with :func:`mmrec.models.dropout.dropout`'s cheaper mask. ``hidden``: an additive
    mask (0 = visible, -inf = hidden) broadcast over the scores, or None = causal."""
    if hidden is None:
        hidden = causal_mask(q.shape[-2], q.dtype, q.device)
    scores = (q @ k.transpose(-2, -1)).mul_(q.shape[-1] ** -0.5).add_(hidden)  # add_: 1/6 of a broadcast masked_fill
    return dropout(torch.softmax(scores, dim=-1), p) @ v


def causal_mask(length: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(L, L) additive mask: -inf above the diagonal (the future), 0 elsewhere."""
    return torch.full((length, length), -torch.inf, dtype=dtype, device=device).triu_(1)


class SelfAttentionBlock(nn.Module):
    """Pre-LN block: x + MHA(LN(x)), then x + FFN(LN(x))."""

    def __init__(self, dim: int, n_heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.n_heads, self.dropout = n_heads, dropout
        self.ln_attn = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln_ffn = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.GELU(), Dropout(dropout), nn.Linear(ffn_dim, dim))
        self.drop = Dropout(dropout)

    def forward(self, x: torch.Tensor, hidden: torch.Tensor | None, last_only: bool = False) -> torch.Tensor:
        """(B, L, d) -> (B, L, d); ``last_only``: (B, 1, d), the last position's output alone (its query, attention
        output and feed-forward; keys and values still from every position), for scoring. ``hidden``: the
        (B, 1, L, L) additive attention mask, or None for a batch without padding (causal attention alone)."""
        b, length, dim = x.shape
        heads = (self.n_heads, dim // self.n_heads)
        h = self.ln_attn(x)
        if last_only:
            q = F.linear(h[:, -1:], self.qkv.weight[:dim], self.qkv.bias[:dim]).view(b, 1, *heads).transpose(1, 2)
            kv = F.linear(h, self.qkv.weight[dim:], self.qkv.bias[dim:])
            k, v = kv.view(b, length, 2, *heads).permute(2, 0, 3, 1, 4)
            x, hidden = x[:, -1:], None if hidden is None else hidden[:, :, -1:]
        else:
            q, k, v = self.qkv(h).view(b, length, 3, *heads).permute(2, 0, 3, 1, 4)
        if self.training and self.dropout > 0 and not last_only:
            attn = attention_with_dropout(q, k, v, hidden, self.dropout)
        else:  # no mask: causal for every position; the last position alone sees every key
            causal = hidden is None and not last_only
            attn = F.scaled_dot_product_attention(q, k, v, attn_mask=hidden, is_causal=causal,
                                                  dropout_p=self.dropout if self.training else 0.0)
        x = x + self.drop(self.proj(attn.transpose(1, 2).reshape(b, x.shape[1], dim)))
        return x + self.drop(self.ffn(self.ln_ffn(x)))


class SASRec(SequentialRecommender):
    """History (B, L) -> per-position states (B, L, d); the last one is the user vector."""

    model_type = "sasrec"

    config_class = SASRecConfig

    def __init__(self, config: SASRecConfig, item_repr: ItemRepresentation | None = None):
        super().__init__()
        config.validate()
        self.config, self.n_items, self.max_len = config, config.n_items, config.max_len
        self.item_repr = default_item_repr(item_repr, config.n_items, config.dim)
        self.positions = nn.Embedding(config.max_len, config.dim)
        self.drop = Dropout(config.dropout)
        self.blocks = nn.ModuleList(SelfAttentionBlock(config.dim, config.n_heads, config.ffn_mult * config.dim,
                                                       config.dropout) for _ in range(config.n_layers))
        self.ln_out = nn.LayerNorm(config.dim)
        for module in [self.positions, *self.blocks.modules()]:
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)

    def _inputs(self, histories: torch.Tensor, items: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The first block's input (B, L, d) and the additive attention mask (B, 1, L, L), None when no row has
        padding (the causal mask alone then, a faster kernel); ``items``: the item matrix to gather the input rows
        from (a fused item vector, e.g. codes or content through an MLP, costs per token)."""
        histories = histories[:, -self.max_len:]
        length = histories.shape[1]
        real = histories > 0
        if items is None:
            embedded = self.item_repr(histories)
        else:
            embedded = gather_rows(items, histories)
        x = embedded + self.positions.weight[self.max_len - length:]  # right-aligned positions
        x = self.drop(x) * real.unsqueeze(-1)
        if bool(real.all()):
            return x, None
        # causal, padding keys hidden; every position may see itself so all-padding rows stay finite
        visible = real.unsqueeze(1) | torch.eye(length, dtype=torch.bool, device=x.device)
        hidden = causal_mask(length, x.dtype, x.device).masked_fill(~visible, -torch.inf)
        return x, hidden.unsqueeze(1)

    def encode_sequence(self, histories: torch.Tensor) -> torch.Tensor:
        x, hidden = self._inputs(histories)
        for block in self.blocks:
            x = block(x, hidden)
        return self.ln_out(x)

    def encode_history(self, histories: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """``encode_sequence(histories)[:, -1]`` without the other positions' outputs in the last block (a third of
        its work): what scoring needs."""
        x, hidden = self._inputs(histories, items)
        for block in self.blocks[:-1]:
            x = block(x, hidden)
        if len(self.blocks):
            x = self.blocks[-1](x, hidden, last_only=True)
        return self.ln_out(x[:, -1])

"""CTR losses over one batch's logits and labels: weighted BCE mixed with a ranking term, and focal loss.

L = α·BCE_w + (1 − α)·R. BCE_w weights each positive by ``pos_weight`` (what a sparser positive rate would
give) and averages over the batch: BCE_w = Σ_i w_i·bce_i / B, w_i = pos_weight on positives, 1 on negatives
(so the gradient on a negative is p / B whatever ``pos_weight`` is). The ranking terms R, P / N = the batch's
positives / negatives:

- ``combined_pair``: mean over all P × N pairs of −log σ(z_i − z_j);
- ``combined_list``: −mean_{i∈P} log(e^{z_i} / (pw·Σ_P e^z + Σ_N e^z)), computed max-shifted (log-sum-exp),
  so it stays finite at any logit scale;
- ``rcr``: the same list form with σ(z) in place of e^z;
- ``jrc``: two logits per sample, ``(B, 2)`` = [z_neg, z_pos]; the click logit is z_pos − z_neg (what BCE_w
  and prediction see) and R = −mean_i log(e^{z_{i,y_i}} / Σ_j e^{z_{j,y_i}}) over the whole batch j, each
  term weighted by w_i like BCE_w. A zoo model's forward returns (B,), so JRC needs a two-logit head.

A batch with no pair (all positive or all negative) has R = 0 for ``combined_pair``; ``combined_list`` and
``rcr`` have R = 0 without positives and stay defined without negatives; ``jrc``'s R is defined for any batch.
``focal``: −mean w_i·(1 − p_t)^γ·log p_t, no ranking part (α unused). α = None takes :data:`BEST_ALPHA`
(ZOO.md §2) at the listed ``pos_weight`` nearest to the one given.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F

LOSSES = ("bce", "combined_pair", "combined_list", "rcr", "jrc", "focal")
BEST_ALPHA = {0.1: 0.7, 0.2: 0.6, 0.4: 0.8, 0.6: 0.7, 0.8: 0.9, 1.0: 0.9}  # pos_weight -> α (ZOO.md §2)


@dataclasses.dataclass
class RankingLossConfig:
    loss: str = "bce"
    pos_weight: float = 1.0
    alpha: float | None = None   # None: BEST_ALPHA's value at the nearest listed pos_weight
    focal_gamma: float = 2.0

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss '{self.loss}' is not one of {', '.join(LOSSES)}")
        if not 0.0 < self.pos_weight <= 1.0:
            raise ValueError(f"pos_weight must be in (0, 1], got {self.pos_weight}")
        if self.alpha is not None and not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")

    @property
    def is_plain_bce(self) -> bool:
        """Unweighted BCE: the zoo model's own loss, unchanged."""
        return self.loss == "bce" and self.pos_weight == 1.0


def default_alpha(pos_weight: float) -> float:
    """ZOO.md's best α for the listed pos_weight nearest to ``pos_weight``."""
    return BEST_ALPHA[min(BEST_ALPHA, key=lambda pw: abs(pw - pos_weight))]


def click_logit(logits: torch.Tensor) -> torch.Tensor:
    """(B,) click logits; (B, 2) two-logit outputs [z_neg, z_pos] give z_pos − z_neg."""
    return logits[:, 1] - logits[:, 0] if logits.dim() == 2 else logits


def _weights(labels: torch.Tensor, pos_weight: float) -> torch.Tensor:
    return 1.0 + (pos_weight - 1.0) * (labels > 0.5).to(labels.dtype)


def weighted_bce(logits: torch.Tensor, labels: torch.Tensor, pos_weight: float = 1.0) -> torch.Tensor:
    """BCE_w = Σ_i w_i·bce_i / B."""
    return F.binary_cross_entropy_with_logits(logits, labels, weight=_weights(labels, pos_weight))


def combined_pair(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over P × N of −log σ(z_i − z_j); 0 when the batch has no pair."""
    pos, neg = logits[labels > 0.5], logits[labels <= 0.5]
    if not len(pos) or not len(neg):
        return logits.sum() * 0.0
    return -F.logsigmoid(pos.unsqueeze(1) - neg.unsqueeze(0)).mean()


def _list_loss(log_scores: torch.Tensor, labels: torch.Tensor, pos_weight: float) -> torch.Tensor:
    """−mean_{i∈P} (s_i − log(pw·Σ_P e^s + Σ_N e^s)) with s = log score; log-sum-exp is max-shifted."""
    positive = labels > 0.5
    if not positive.any():
        return log_scores.sum() * 0.0
    log_norm = torch.logsumexp(log_scores + math.log(pos_weight) * positive.to(log_scores.dtype), 0)
    return (log_norm - log_scores[positive]).mean()


def combined_list(logits: torch.Tensor, labels: torch.Tensor, pos_weight: float = 1.0) -> torch.Tensor:
    return _list_loss(logits, labels, pos_weight)


def rcr(logits: torch.Tensor, labels: torch.Tensor, pos_weight: float = 1.0) -> torch.Tensor:
    """Combined-List with σ(z) in place of e^z (log σ computed stably)."""
    return _list_loss(F.logsigmoid(logits), labels, pos_weight)


def jrc(logits: torch.Tensor, labels: torch.Tensor, pos_weight: float = 1.0) -> torch.Tensor:
    """JRC's ranking term over (B, 2) logits: per sample, a softmax over the batch in its label's column."""
    if logits.dim() != 2 or logits.shape[1] != 2:
        raise ValueError(f"jrc needs (B, 2) logits [z_neg, z_pos] (a two-logit head); got {list(logits.shape)}")
    y = (labels > 0.5).long()
    log_soft = logits - torch.logsumexp(logits, 0, keepdim=True)  # column-wise softmax over the batch
    chosen = log_soft.gather(1, y.unsqueeze(1)).squeeze(1)
    return -(chosen * _weights(labels, pos_weight)).mean()


def focal(logits: torch.Tensor, labels: torch.Tensor, pos_weight: float = 1.0, gamma: float = 2.0) -> torch.Tensor:
    """−mean w_i·(1 − p_t)^γ·log p_t (Lin et al.); γ = 0 is BCE_w."""
    log_pt = -F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    return -(_weights(labels, pos_weight) * (1.0 - log_pt.exp()).pow(gamma) * log_pt).mean()


RANKING = {"combined_pair": lambda z, y, pw: combined_pair(z, y), "combined_list": combined_list, "rcr": rcr,
           "jrc": jrc}


def ctr_loss(logits: torch.Tensor, labels: torch.Tensor, config: RankingLossConfig) -> torch.Tensor:
    """The configured loss of a batch: (B,) logits ((B, 2) for ``jrc``) and (B,) 0/1 labels."""
    if config.loss == "jrc" and logits.dim() != 2:
        raise ValueError("loss 'jrc' needs a model whose forward returns (B, 2) logits [z_neg, z_pos]; "
                         f"this one returns {list(logits.shape)}")
    pw = config.pos_weight
    if config.loss == "focal":
        return focal(logits, labels, pw, config.focal_gamma)
    bce = weighted_bce(click_logit(logits), labels, pw)
    if config.loss == "bce":
        return bce
    alpha = default_alpha(pw) if config.alpha is None else config.alpha
    return alpha * bce + (1.0 - alpha) * RANKING[config.loss](logits, labels, pw)

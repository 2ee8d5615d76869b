"""Next-item losses over every position of a sequence (target 0 = padding, ignored).

Kept apart from the models: a backbone only produces states; how they are trained is chosen here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mmrec.items.base import ItemRepresentation


def full_softmax_ce(states: torch.Tensor, targets: torch.Tensor, item_repr: ItemRepresentation,
                    exclude: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of each position's next item against the whole catalogue. states (B, L, d), targets (B, L).

    ``exclude`` (N + 1 bools) removes items from the softmax, e.g. those absent from the training sequences.
    """
    keep = targets > 0
    logits = states[keep] @ item_repr.all_items().T  # only real positions: no wasted (pad, N) rows
    logits[:, 0] = -torch.inf  # padding is never a candidate
    if exclude is not None:
        logits = logits.masked_fill(exclude.to(logits.device), -torch.inf)
    return F.cross_entropy(logits, targets[keep])


def sampled_bce(states: torch.Tensor, targets: torch.Tensor, item_repr: ItemRepresentation,
                n_negatives: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
    """Binary cross-entropy: the next item against ``n_negatives`` uniform random items per position."""
    keep = targets > 0
    states, pos = states[keep], targets[keep]
    neg = torch.randint(1, item_repr.n_items + 1, (len(pos), n_negatives), generator=generator).to(pos.device)
    pos_logit = (states * item_repr(pos)).sum(-1)
    neg_logit = torch.einsum("nd,nkd->nk", states, item_repr(neg))
    return (F.binary_cross_entropy_with_logits(pos_logit, torch.ones_like(pos_logit))
            + F.binary_cross_entropy_with_logits(neg_logit, torch.zeros_like(neg_logit), reduction="none")
            .sum(1).mean())

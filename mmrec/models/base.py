"""The one interface every recommender answers, baselines included: ``score(histories) -> (B, N + 1)``.

Histories are item indices, left-padded with 0 (most recent item last). Evaluation only ever calls ``score``,
so a neural backbone, a popularity count and a content k-NN are ranked by exactly the same code.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from mmrec.core.hub_mixin import HubMixin
from mmrec.core.precision import Precision, autocast
from mmrec.items import ITEM_REPRESENTATIONS, IDEmbedding, ItemRepresentation
from mmrec.items.checks import check_item_matrix


@dataclasses.dataclass
class ModelData:
    """What a model may be built from: the training split and (optionally) the item tables."""

    n_items: int
    train: list[np.ndarray]  # train[u] = user u's training sequence (time order); entry 0 empty
    item_text: list[str] | None = None  # text of items 1..N (index i -> item i + 1)
    item_codes: dict[str, np.ndarray] | None = None  # semantic IDs by quantize variant: (N + 1, C, L), row 0 = pad

    def item_train_counts(self) -> np.ndarray:
        counts = np.zeros(self.n_items + 1, dtype=np.int64)
        nonempty = [s for s in self.train if len(s)]
        if nonempty:
            np.add.at(counts, np.concatenate(nonempty), 1)
        counts[0] = 0
        return counts


class Recommender(HubMixin, nn.Module):
    """Scores every item index 0..N for each history; column 0 (padding) is never recommended.

    ``save_pretrained`` / ``from_pretrained`` / ``push_to_hub`` come from :class:`mmrec.core.hub_mixin.HubMixin`.
    """

    n_items: int
    max_len: int | None = None  # how many recent history items the model reads (None: all of them)
    # whether an item never seen in training gets a meaningful score (content, codes); False: ID-only, such a
    # model is selected on a warm hold-out where validation is all never-seen items (data.splits.selection_split)
    scores_unseen_items: bool = False

    @classmethod
    def item_representation_classes(cls) -> dict[str, type[nn.Module]]:
        return ITEM_REPRESENTATIONS

    def score(self, histories: torch.Tensor) -> torch.Tensor:  # (B, L) -> (B, N + 1)
        raise NotImplementedError

    def scorer(self, precision: Precision = "fp32") -> Callable[[torch.Tensor], torch.Tensor]:
        """``score`` for the chunks of one evaluation, the weights unchanged in between: what does not depend on
        the histories (a backbone's item matrix) is computed once here instead of once per chunk. ``precision``:
        the dtype of a backbone's encoder (scores are fp32 either way); a model without one ignores it."""
        return self.score

    @property
    def device(self) -> torch.device:
        """Where the model's tensors live (histories are moved there before ``score``)."""
        for tensor in itertools.chain(self.parameters(), self.buffers()):
            return tensor.device
        return torch.device("cpu")

    @classmethod
    def build(cls, config: Any, data: ModelData, item_repr: ItemRepresentation | None = None) -> "Recommender":
        """Construct from a config and the training data (baselines count or read content here)."""
        raise NotImplementedError


class SequentialRecommender(Recommender):
    """A backbone: history (B, L) -> user vector u (B, d); an item's score is <u, e_i> over ``item_repr``.

    Subclasses implement ``encode_sequence`` (one vector per position, causal, used for training on every
    position); ``encode_history`` takes the last position. Losses live in ``mmrec.train.losses``.
    """

    item_repr: ItemRepresentation

    def encode_sequence(self, histories: torch.Tensor) -> torch.Tensor:  # (B, L) -> (B, L, d)
        raise NotImplementedError

    def auxiliary_loss(self, windows: torch.Tensor) -> torch.Tensor | None:
        """An extra training term on a batch of windows (B, L + 1), added to the recommendation loss; None = none."""
        return None

    def forward(self, histories: torch.Tensor) -> torch.Tensor:
        """Per-position states; what a training step (and a DDP wrapper) calls."""
        return self.encode_sequence(histories)

    def encode_history(self, histories: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L) -> (B, d). ``items``: this model's ``item_repr.all_items()`` when the caller has it (scoring), so
        a backbone may gather its input rows from it instead of recomputing each token's item vector."""
        return self.encode_sequence(histories)[:, -1]

    def score(self, histories: torch.Tensor) -> torch.Tensor:
        return self.encode_history(histories) @ self.item_repr.all_items().T

    def scorer(self, precision: Precision = "fp32") -> Callable[[torch.Tensor], torch.Tensor]:
        if type(self).score is not SequentialRecommender.score:  # a backbone that scores its own way keeps it
            return self.score
        with torch.no_grad():
            items = self.item_repr.all_items()

        def score(histories: torch.Tensor) -> torch.Tensor:
            with autocast(precision, items.device):
                users = self.encode_history(histories, items)
            return users.float() @ items.T  # fp32 scores: bf16 ones would tie items 0.4% apart

        return score

    @classmethod
    def build(cls, config: Any, data: ModelData, item_repr: ItemRepresentation | None = None) -> "Recommender":
        config = dataclasses.replace(config, n_items=data.n_items)
        return cls(config, item_repr)


def default_item_repr(item_repr: ItemRepresentation | None, n_items: int, dim: int) -> ItemRepresentation:
    """The seam's default (an ID table), or the given representation after checking it fits the model."""
    if item_repr is None:
        return IDEmbedding(n_items, dim)
    if item_repr.dim != dim or item_repr.n_items != n_items:
        raise ValueError(f"item representation is {item_repr.n_items} items x {item_repr.dim}-d, "
                         f"the model expects {n_items} x {dim}-d")
    with torch.no_grad():
        check_item_matrix(item_repr.all_items(), f"item representation {type(item_repr).__name__}", n_items, dim)
    return item_repr

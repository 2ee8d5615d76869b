"""Item representations: every model gets its item vectors from one of these (ID, content, aligned content,
semantic codes, and the frequency-gated mixtures that PAD and the CTR item side share).

``ITEM_REPRESENTATIONS`` names the classes a saved model's item side may be rebuilt from; a user's own item side
joins with :func:`register_item_representation`.
"""

from __future__ import annotations

from torch import nn

from mmrec.items.base import IDEmbedding, ItemRepresentation
from mmrec.items.codes import SemanticIDRepresentation
from mmrec.items.triple import TripleExpertItems

ITEM_REPRESENTATIONS: dict[str, type[nn.Module]] = {
    cls.__name__: cls for cls in (IDEmbedding, SemanticIDRepresentation, TripleExpertItems)}


def register_item_representation(cls: type[nn.Module]) -> None:
    """Allow ``cls`` as a saved model's item side; rebuilt from its ``__init__`` (scalars by attribute, tensors by
    buffer)."""
    ITEM_REPRESENTATIONS[cls.__name__] = cls


__all__ = ["ITEM_REPRESENTATIONS", "IDEmbedding", "ItemRepresentation", "SemanticIDRepresentation",
           "TripleExpertItems", "register_item_representation"]

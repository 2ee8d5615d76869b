"""Content k-NN: score an item by the cosine of its content vector to the mean of the history's vectors.

The content source is any (N + 1, d) matrix (row 0 = padding); until the encoders land, ``build`` uses
TF-IDF of the items' text. It needs no training, so it is the content floor a multimodal model must beat.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from mmrec.models.base import ModelData, Recommender
from mmrec.models.item_repr import ItemRepresentation


@dataclasses.dataclass
class ContentKNNConfig:
    max_features: int = 4096  # TF-IDF vocabulary size
    min_df: int = 2  # ignore words in fewer items than this


class ContentKNN(Recommender):
    config_class = ContentKNNConfig
    max_len = None  # reads the whole history

    def __init__(self, content: torch.Tensor):
        super().__init__()
        self.n_items = content.shape[0] - 1
        content = F.normalize(content.float(), dim=1)
        content[0] = 0.0
        self.register_buffer("content", content)

    def score(self, histories: torch.Tensor) -> torch.Tensor:
        # (B, N+1) bag of the history, so a long history never materialises (B, L, d)
        bag = torch.zeros(histories.shape[0], self.n_items + 1, device=histories.device)
        bag.scatter_add_(1, histories, torch.ones_like(histories, dtype=bag.dtype))
        bag[:, 0] = 0.0
        profile = F.normalize(bag @ self.content, dim=1)
        return profile @ self.content.T

    @classmethod
    def build(cls, config: ContentKNNConfig, data: ModelData,
              item_repr: ItemRepresentation | None = None) -> "ContentKNN":
        if data.item_text is None:
            raise ValueError("content_knn needs item text (ModelData.item_text) or a content matrix")
        return cls(tfidf_content(data.item_text, config.max_features, config.min_df))


def tfidf_content(texts: list[str], max_features: int, min_df: int) -> torch.Tensor:
    """(N + 1, vocab) TF-IDF rows for items 1..N, row 0 zero."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    min_df = min(min_df, max(1, len(texts)))
    try:
        matrix = TfidfVectorizer(max_features=max_features, min_df=min_df, sublinear_tf=True).fit_transform(texts)
    except ValueError:  # every text empty: no vocabulary, all items equally (dis)similar
        matrix = np.zeros((len(texts), 1), dtype=np.float32)
    dense = matrix.toarray() if hasattr(matrix, "toarray") else matrix
    return torch.from_numpy(np.vstack([np.zeros((1, dense.shape[1])), dense]).astype(np.float32))

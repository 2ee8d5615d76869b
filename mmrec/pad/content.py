"""PAD's content inputs: the encode stage's dense modalities and the TF-IDF of the items' text.

The content expert must be at least as informed as the content baseline it contains: on sparse, text-rich
catalogues content k-NN over TF-IDF beats dense text embeddings on new items, so ``tfidf`` (the same matrix
:func:`mmrec.models.content_knn.tfidf_content` builds for content_knn) is a content source too. Sources are
L2-normalised per row and concatenated in the order named, as :func:`mmrec.core.modalities.content_matrix` does
for the dense ones, so no source dominates by scale.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from mmrec.core.modalities import content_matrix
from mmrec.models.content_knn import ContentKNNConfig, tfidf_content

TFIDF = "tfidf"


def tfidf_matrix(item_text: list[str], config: ContentKNNConfig) -> torch.Tensor:
    """(N + 1, vocab) dense, row-normalised TF-IDF of items 1..N (row 0 and empty texts zero)."""
    return F.normalize(tfidf_content(item_text, config.max_features, config.min_df).to_dense(), dim=1)


class ContentCache:
    """Content matrices of one split's catalogue, built once per combination of sources.

    ``directory``: the ``<modality>.safetensors`` folder; ``item_text``: the text of items 1..N (for ``tfidf``).
    """

    def __init__(self, directory: Path, n_items: int, item_text: list[str] | None = None,
                 tfidf: ContentKNNConfig | None = None):
        self.directory, self.n_items, self.item_text = directory, n_items, item_text
        self.tfidf = tfidf or ContentKNNConfig()
        self._cache: dict[tuple[str, ...], torch.Tensor] = {}

    def __call__(self, sources: list[str]) -> torch.Tensor:
        key = tuple(sources)
        if key not in self._cache:
            self._cache[key] = torch.cat([self._source(source) for source in key], dim=1)
        return self._cache[key]

    def _source(self, source: str) -> torch.Tensor:
        if source != TFIDF:
            return content_matrix(self.directory, [source], self.n_items)
        if self.item_text is None or len(self.item_text) != self.n_items:
            raise ValueError(f"pad content 'tfidf' needs the text of all {self.n_items} items, "
                             f"got {None if self.item_text is None else len(self.item_text)}")
        return tfidf_matrix(self.item_text, self.tfidf)


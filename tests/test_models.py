"""Backbones and baselines: shapes, causality, padding, the item-representation seam, the registry."""

import numpy as np
import pytest
import torch

from mmrec import catalogue
from mmrec.core.config import ConfigError, from_dict
from mmrec.core.sequences import left_pad
from mmrec.items.base import IDEmbedding, ItemRepresentation
from mmrec.models.base import ModelData
from mmrec.models.content_knn import ContentKNN
from mmrec.models.gru4rec import GRU4Rec, GRU4RecConfig
from mmrec.models.popularity import Popularity
from mmrec.models.sasrec import SASRec, SASRecConfig

N = 20
BACKBONES = [(SASRec, SASRecConfig(n_items=N, dim=16, n_heads=2, max_len=8, dropout=0.0)),
             (GRU4Rec, GRU4RecConfig(n_items=N, dim=16, hidden=12, max_len=8, dropout=0.0))]


def test_left_pad_keeps_the_most_recent_items():
    out = left_pad([np.array([1, 2, 3]), np.array([4]), np.array([], dtype=np.int64)], max_len=2)
    assert out.tolist() == [[2, 3], [0, 4], [0, 0]]
    assert left_pad([np.array([5, 6])], None).tolist() == [[5, 6]]


@pytest.mark.parametrize("cls, cfg", BACKBONES)
def test_backbone_shapes_and_scores_are_inner_products(cls, cfg):
    torch.manual_seed(0)
    model = cls(cfg).eval()
    h = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8], [0, 0, 0, 0, 0, 0, 0, 2]])
    assert model.encode_sequence(h).shape == (2, 8, 16)
    u = model.encode_history(h)
    assert u.shape == (2, 16)
    assert torch.allclose(model.score(h), u @ model.item_repr.all_items().T, atol=1e-6)
    assert model.score(h).shape == (2, N + 1)


@pytest.mark.parametrize("cls, cfg", BACKBONES)
def test_extra_left_padding_changes_nothing(cls, cfg):
    torch.manual_seed(0)
    model = cls(cfg).eval()
    short = torch.tensor([[0, 0, 0, 0, 0, 3, 4, 5]])
    assert torch.allclose(model.encode_history(short), model.encode_history(short[:, 3:]), atol=1e-5)


@pytest.mark.parametrize("cls, cfg", BACKBONES)
def test_positions_do_not_see_the_future(cls, cfg):
    torch.manual_seed(0)
    model = cls(cfg).eval()
    a = torch.tensor([[0, 0, 1, 2, 3, 4, 5, 6]])
    b = a.clone()
    b[0, -1] = 9
    assert torch.allclose(model.encode_sequence(a)[:, :-1], model.encode_sequence(b)[:, :-1], atol=1e-5)


class FixedTable(ItemRepresentation):
    """A frozen content table standing in for PAD / semantic-ID representations."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.n_items, self.dim = table.shape[0] - 1, table.shape[1]
        self.table = torch.nn.Parameter(table, requires_grad=False)

    def forward(self, items):
        return self.table[items]


def test_a_new_item_representation_plugs_in_through_the_seam():
    table = torch.randn(N + 1, 16)
    model = SASRec(SASRecConfig(n_items=N, dim=16, max_len=8), item_repr=FixedTable(table)).eval()
    scores = model.score(torch.tensor([[1, 2, 3]]))
    assert torch.allclose(scores, model.encode_history(torch.tensor([[1, 2, 3]])) @ table.T, atol=1e-5)
    with pytest.raises(ValueError, match="expects"):
        SASRec(SASRecConfig(n_items=N, dim=32), item_repr=IDEmbedding(N, 16))


def test_popularity_ranks_by_training_count():
    data = ModelData(4, [np.array([], dtype=np.int64), np.array([1, 2, 2]), np.array([2, 3])])
    model = Popularity.build(catalogue.lookup("popularity").config_class(), data)
    assert model.score(torch.zeros(2, 1, dtype=torch.long)).tolist() == [[0, 1, 3, 1, 0]] * 2


def test_content_knn_is_cosine_to_the_history_mean():
    content = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    model = ContentKNN(content)
    s = model.score(torch.tensor([[0, 1, 2]]))[0]
    # mean of e1, e2 points at (1, 1): item 3 is most similar (cos 1), items 1 and 2 at cos 1/sqrt(2)
    assert s[3] == pytest.approx(1.0) and s[1] == pytest.approx(2 ** -0.5) and s[2] == pytest.approx(2 ** -0.5)


def test_content_knn_tfidf_from_item_text():
    data = ModelData(3, [], item_text=["space war robots", "space robots", "romance in paris"])
    model = catalogue.build("content_knn", catalogue.lookup("content_knn").config_class(min_df=1), data)
    s = model.score(torch.tensor([[1]]))[0]
    assert s[2] > s[3]


def test_registry_configs_are_typed_and_suggest():
    assert {"popularity", "content_knn", "sasrec", "gru4rec"} <= set(catalogue.names())
    with pytest.raises(ConfigError, match="did you mean 'sasrec'"):
        catalogue.lookup("sasrek")
    with pytest.raises(ConfigError, match="did you mean 'n_heads'"):
        from_dict(SASRecConfig, {"n_head": 2})
    with pytest.raises(ConfigError, match="divisible"):
        from_dict(SASRecConfig, {"dim": 10, "n_heads": 3})


def test_content_knn_sparse_and_dense_content_agree():
    dense = torch.rand(N + 1, 7) * (torch.rand(N + 1, 7) > 0.5)
    h = torch.tensor([[0, 3, 4, 9], [1, 2, 2, 5]])
    assert torch.allclose(ContentKNN(dense).score(h), ContentKNN(dense.to_sparse()).score(h), atol=1e-5)


@pytest.mark.parametrize("sparse", [False, True])
def test_content_knn_item_similarity_path_scores_as_the_content_space_path(sparse, monkeypatch):
    """The kept item-item matrix (small catalogues) against the two products through the content dimensions
    (what a catalogue over the budget takes): repeats, padding and an all-padding history included."""
    torch.manual_seed(0)
    content = torch.rand(N + 1, 7) * (torch.rand(N + 1, 7) > 0.5)
    content = content.to_sparse() if sparse else content
    h = torch.tensor([[0, 3, 4, 9], [1, 2, 2, 5], [0, 0, 0, 0], [7, 7, 7, 7]])
    kept = ContentKNN(content)
    monkeypatch.setattr("mmrec.models.content_knn.SIMILARITY_BUDGET", 0)
    through_d = ContentKNN(content)
    assert kept.similarity is not None and through_d.similarity is None
    torch.testing.assert_close(kept.score(h), through_d.score(h), atol=1e-6, rtol=1e-5)
    assert torch.count_nonzero(kept.score(h)[2]) == 0 and kept.score(h)[:, 0].abs().max() == 0
    assert "similarity" not in kept.state_dict()  # rebuilt from the content on load, not saved

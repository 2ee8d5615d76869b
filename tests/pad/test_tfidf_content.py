"""PAD's content expert over TF-IDF: the content sources concatenate normalised, and on a planted catalogue where
only the items' words carry the signal, PAD with the TF-IDF content side beats dense-only PAD on new items."""

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from mmrec.data.splits import new_items
from mmrec.eval.config import EvalConfig
from mmrec.eval.evaluate import evaluate, ranking_cases
from mmrec.models.content_knn import ContentKNNConfig
from mmrec.models.sasrec import SASRecConfig
from mmrec.pad.config import PADConfig
from mmrec.pad.content import ContentCache, tfidf_matrix
from mmrec.pad.experts import BACKBONES
from mmrec.pad.train import align, fit, train_pad
from mmrec.train.common import seed_everything
from mmrec.train.config import TrainConfig

N_TOPICS, PER_TOPIC = 4, 16
N_ITEMS = N_TOPICS * PER_TOPIC


def _catalogue():
    """Users each read one topic; an item's text names its topic among shared filler words; dense content is noise."""
    rng = np.random.default_rng(0)
    topic = np.repeat(np.arange(N_TOPICS), PER_TOPIC)  # item i + 1 has topic topic[i]
    fillers = [f"filler{k}" for k in range(30)]
    texts = [" ".join([f"topic{t}", f"topic{t}", *rng.choice(fillers, 3)]) for t in topic]
    sequences = [np.zeros(0, np.int64)]
    for _ in range(160):
        t = rng.integers(N_TOPICS)
        sequences.append(1 + t * PER_TOPIC + rng.choice(PER_TOPIC, size=10, replace=False))
    dense = torch.randn(N_ITEMS + 1, 12, generator=torch.Generator().manual_seed(1))
    dense[0] = 0
    return texts, new_items(sequences, N_ITEMS, fraction=0.25), dense


def test_content_sources_concatenate_row_normalised(tmp_path):
    texts = ["red apple", "red cherry", "green apple", ""]
    emb = torch.randn(5, 3) * 9
    emb[0] = 0
    save_file({"embeddings": emb, "mask": torch.arange(5) > 0}, str(tmp_path / "text.safetensors"))
    content = ContentCache(tmp_path, 4, texts, ContentKNNConfig(min_df=1))(["text", "tfidf"])
    tfidf = tfidf_matrix(texts, ContentKNNConfig(min_df=1))
    assert content.shape == (5, 3 + tfidf.shape[1])
    assert torch.allclose(content[1:4, :3].norm(dim=1), torch.ones(3))
    assert torch.allclose(content[1:4, 3:].norm(dim=1), torch.ones(3))
    assert (content[0] == 0).all() and (content[4, 3:] == 0).all()  # padding and the empty text
    assert content[1, 3:] @ content[2, 3:] > 0 and content[1, 3:] @ content[3, 3:] > 0  # red; apple
    assert content[2, 3:] @ content[3, 3:] == 0  # no word in common
    with pytest.raises(ValueError, match="tfidf.*4 items"):
        ContentCache(tmp_path, 4, texts[:2])(["tfidf"])


def _new_item_ndcg(split, anchor, dense, expert_content, settings, optim):
    tower = align(anchor, dense, split, settings, optim, seed=0)
    pad = train_pad(anchor, tower, expert_content, split, settings, optim, seed=0)
    result = evaluate(pad, ranking_cases(split, "test"), split.item_train_counts(), EvalConfig(ks=[10]))
    assert result["bins"][0]["n_targets"] == result["n_targets"]  # every test target is a never-seen item
    return result["overall"]["NDCG@10"]


def test_tfidf_content_expert_beats_dense_only_pad_on_new_items():
    torch.set_num_threads(1)
    texts, split, dense = _catalogue()
    optim = TrainConfig(epochs=8, batch_size=32, patience=8, lr=3e-3, progress=False)
    seed_everything(0)
    backbone = SASRecConfig(n_items=N_ITEMS, dim=16, n_layers=1, n_heads=2, max_len=10, dropout=0.1)
    anchor = fit(BACKBONES["sasrec"](backbone), split, optim, seed=0)
    settings = PADConfig(align_epochs=2, finetune_epochs=8, finetune_lr=3e-3, n_bins=3)
    dense_only = _new_item_ndcg(split, anchor, dense, dense, settings, optim)
    with_tfidf = _new_item_ndcg(split, anchor, dense, tfidf_matrix(texts, ContentKNNConfig()),
                                PADConfig(**{**settings.__dict__, "content_expert": ["tfidf"]}), optim)
    print(f"new-item NDCG@10: dense-only {dense_only:.4f}, TF-IDF content expert {with_tfidf:.4f}")
    assert with_tfidf > dense_only + 0.1

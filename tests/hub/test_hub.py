"""Hub save / load: folder and repo-id round trips give identical scores; the item side travels in safetensors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from mmrec.hub import HubError, load_model, model_card, register_item_representation
from mmrec.items.base import ItemRepresentation
from mmrec.models.content_knn import ContentKNN
from mmrec.models.gru4rec import GRU4Rec, GRU4RecConfig
from mmrec.models.popularity import Popularity
from mmrec.models.sasrec import SASRec, SASRecConfig

REPO = Path(__file__).resolve().parents[2]
N = 30
HIST = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5], [0, 0, 0, 0, 7]])


def _models() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {
        "sasrec": SASRec(SASRecConfig(n_items=N, dim=16, n_layers=1, max_len=5)),
        "gru4rec": GRU4Rec(GRU4RecConfig(n_items=N, dim=8, hidden=12, max_len=5)),
        "popularity": Popularity(torch.arange(N + 1)),
        "content_knn": ContentKNN(torch.randn(N + 1, 6)),
    }


@pytest.mark.parametrize("name", ["sasrec", "gru4rec", "popularity", "content_knn"])
def test_save_pretrained_then_load_model_scores_identically(tmp_path, name):
    model = _models()[name].eval()
    model.save_pretrained(tmp_path)
    assert {"config.json", "model.safetensors", "README.md"} <= set(os.listdir(tmp_path))
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == name
    loaded = load_model(tmp_path)
    assert type(loaded) is type(model) and not loaded.training
    assert torch.equal(loaded.score(HIST), model.score(HIST))
    # the concrete class loads its own type too
    assert torch.equal(type(model).from_pretrained(tmp_path).score(HIST), model.score(HIST))


def test_load_by_repo_id_from_the_local_hf_cache_offline(tmp_path, hf_cache):
    model = _models()["sasrec"].eval()
    model.item_ids = [f"m{i}" for i in range(1, N + 1)]
    model.save_pretrained(tmp_path / "saved")
    cache = hf_cache(tmp_path / "saved", "mmrec-test/tiny-sasrec")
    loaded = load_model("mmrec-test/tiny-sasrec", cache_dir=cache, local_files_only=True)
    assert torch.equal(loaded.score(HIST), model.score(HIST))
    assert loaded.item_ids == model.item_ids
    # a fresh process, as a user would: HF_HUB_CACHE + HF_HUB_OFFLINE, load by repo id, top items of a history
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    out = subprocess.run([sys.executable, "-m", "mmrec", "score", "mmrec-test/tiny-sasrec", "--history", "m3", "m4",
                          "m5", "--top", "3", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    top = json.loads(out.stdout)
    scores = model.score(torch.tensor([[3, 4, 5]]))[0]
    scores[[0, 3, 4, 5]] = -torch.inf
    expected = torch.topk(scores, 3)
    assert [t["item_id"] for t in top] == [f"m{i}" for i in expected.indices.tolist()]
    assert [t["score"] for t in top] == pytest.approx(expected.values.tolist(), rel=1e-6)


class ContentCodes(ItemRepresentation):
    """A stand-in for the PAD / semantic-ID item side: frozen content buffer + codes into a learned codebook."""

    def __init__(self, content: torch.Tensor, codes: torch.Tensor, n_codes: int, dim: int):
        super().__init__()
        self.n_items, self.dim, self.n_codes = content.shape[0] - 1, dim, n_codes
        self.register_buffer("content", content)
        self.register_buffer("codes", codes)
        self.codebook = nn.Embedding(n_codes, dim)
        self.proj = nn.Linear(content.shape[1], dim)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        return self.proj(self.content[items]) + self.codebook(self.codes[items])


def test_content_and_code_item_sides_travel_in_the_safetensors(tmp_path):
    register_item_representation(ContentCodes)
    torch.manual_seed(1)
    side = ContentCodes(torch.randn(N + 1, 5), torch.randint(0, 4, (N + 1,)), n_codes=4, dim=16)
    model = SASRec(SASRecConfig(n_items=N, dim=16, n_layers=1, max_len=5), item_repr=side).eval()
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["item_repr"] == {"class": "ContentCodes", "args": {"n_codes": 4, "dim": 16}}
    loaded = load_model(tmp_path)
    assert torch.equal(loaded.item_repr.codes, side.codes)
    assert torch.equal(loaded.score(HIST), model.score(HIST))


def test_model_card_states_dataset_protocol_headline_and_cold_numbers(tmp_path):
    model = _models()["sasrec"]
    report = {"dataset": "ml-100k", "split": "leave-one-out", "protocol": "full ranking, history masked",
              "seeds": [0, 1], "headline": ["HR@10", "NDCG@10", "MRR@10"],
              "models": {"sasrec": {"overall": {"HR@10": 0.5, "NDCG@10": {"mean": 0.25, "std": 0.01, "n": 2},
                                                "MRR@10": 0.2},
                                    "warm": {"HR@10": 0.6, "NDCG@10": 0.3, "MRR@10": 0.25, "n_targets": 900},
                                    "cold": {"HR@10": 0.1, "NDCG@10": 0.04321, "MRR@10": 0.03, "n_targets": 43},
                                    "n_targets": 943}}}
    model.save_pretrained(tmp_path, model_card_kwargs={"report": report, "seed": 0})
    card = (tmp_path / "README.md").read_text()
    for text in ["ml-100k", "leave-one-out", "full ranking, history masked", "0.2500 ± 0.0100 (n=2)",
                 "| cold | 43 |", "0.0432", "Training seed: 0", "library_name: mmrec"]:
        assert text in card, text
    assert "## Evaluation" not in str(model_card(model.hub_config()))


def test_sparse_tfidf_content_round_trips(tmp_path):
    from mmrec.models.content_knn import tfidf_content

    content = tfidf_content(["space war robots", "space robots", "romance in paris", "paris robots"], 100, 1)
    model = ContentKNN(content)
    assert model.content.is_sparse
    model.save_pretrained(tmp_path)
    loaded = load_model(tmp_path)
    assert loaded.content.is_sparse
    h = torch.tensor([[0, 1, 2], [3, 4, 1]])
    assert torch.equal(loaded.score(h), model.score(h))


def test_semantic_id_sasrec_round_trips_with_its_codes(tmp_path):
    import numpy as np

    from mmrec import catalogue
    from mmrec.models.base import ModelData

    torch.manual_seed(2)
    codes = np.random.default_rng(0).integers(0, 4, (N + 1, 2, 3))
    data = ModelData(N, [np.zeros(0, np.int64), np.array([1, 2, 3, 4])], item_codes={"moc2": codes})
    spec = catalogue.lookup("moc2")
    config = spec.config_class(dim=16, n_layers=1, max_len=5, code_width=12)
    model = catalogue.build("moc2", config, data).eval()
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["config"]["variant"] == "moc2" and saved["item_repr"]["class"] == "SemanticIDRepresentation"
    loaded = load_model(tmp_path)
    assert loaded.config == model.config
    assert torch.equal(loaded.item_repr.codes, model.item_repr.codes)
    assert torch.equal(loaded.item_repr.id_items, model.item_repr.id_items)  # never-seen items: codes only
    assert torch.equal(loaded.score(HIST), model.score(HIST))


@pytest.mark.parametrize("name", ["sasrec", "pad", "aligned_tower"])
def test_folders_saved_in_format_1_still_load_with_the_same_scores(name):
    """Folders written before the restructuring (``format_v1/``, made by that version's code; PAD's config then
    held an ExpertConfig) load and score as they did: to float rounding, since scoring now runs the last block for
    the last position only (summation order differs; tests/test_scoring.py holds it to the full path)."""
    folder = REPO / "tests" / "hub" / "format_v1"
    expected = json.loads((folder / "scores.json").read_text())
    assert json.loads((folder / name / "config.json").read_text())["mmrec_format"] == 1
    model = load_model(folder / name)
    with torch.no_grad():
        scores = model.score(torch.tensor(expected["histories"]))
    torch.testing.assert_close(scores, torch.tensor(expected["scores"][name]), rtol=1e-6, atol=1e-6)  # measured 1.2e-7


def test_a_newer_format_is_refused_by_name(tmp_path):
    model = _models()["sasrec"]
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "mmrec_format": 99}))
    with pytest.raises(HubError, match="mmrec_format' is 99, written by a newer mmrec"):
        load_model(tmp_path)

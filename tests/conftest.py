"""Shared fixtures: the real ml-100k from $MMREC_DATA (default ../shared/datasets), loaded once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from toy import install_in_hf_cache

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _data_root() -> Path | None:
    root = Path(os.environ.get("MMREC_DATA", REPO.parent / "shared" / "datasets"))
    return root if (root / "ml-100k" / "u.data").is_file() else None


@pytest.fixture(scope="session")
def data_root(pytestconfig) -> Path:
    root = _data_root()
    if root is None:
        pytest.skip("ml-100k not found: set MMREC_DATA to the folder holding ml-100k/")
    os.environ["MMREC_DATA"] = str(root)
    return root


@pytest.fixture(scope="session")
def ml100k_recipe(data_root):
    """The shipped ml-100k recipe, as a typed config."""
    from mmrec.recipe import load_recipe

    return load_recipe(REPO / "recipes" / "ml-100k.yaml")


@pytest.fixture(scope="session")
def ml100k_tables(ml100k_recipe):
    from mmrec.data import load_tables

    return load_tables(ml100k_recipe.data)


@pytest.fixture(scope="session")
def ml100k_splits(ml100k_tables, ml100k_recipe):
    """{"leave-one-out": SequentialSplit, "new-items": SequentialSplit, "ctr": CTRSplit} for seed 0."""
    from mmrec.stages.prepare import build_splits

    return build_splits(ml100k_tables, ml100k_recipe)


@pytest.fixture()
def hf_cache(tmp_path):
    """``install(folder, repo_id) -> cache_dir``: a saved model placed in huggingface_hub's cache layout
    (``models--ORG--NAME/snapshots/REV/...`` plus ``refs/main`` = REV), to load by repo id offline."""
    cache = tmp_path / "hf-cache"

    def install(folder: Path, repo_id: str) -> Path:
        install_in_hf_cache(cache, folder, repo_id)
        return cache

    return install

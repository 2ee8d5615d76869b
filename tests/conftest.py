"""Shared fixtures: the real ml-100k from $MMREC_DATA (default ../shared/datasets), loaded once per session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

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
    from mmrec.config import load_recipe

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


def _install_in_hf_cache(cache: Path, repo_id: str, folder: Path, revision: str = "a" * 40) -> None:
    """Place a saved model folder in huggingface_hub's cache layout: models--ORG--NAME/snapshots/REV/... plus
    refs/main = REV, so it loads by repo id offline."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(folder, repo / "snapshots" / revision)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)


@pytest.fixture
def hf_cache_install():
    """``install(cache, repo_id, folder)``: a saved mmrec model, loadable by repo id from ``cache`` offline."""
    return _install_in_hf_cache

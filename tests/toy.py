"""Test helpers: a toy bring-your-own dataset and recipe for end-to-end runs in subprocesses (CLI, torchrun, kill
tests), and an offline Hugging Face cache layout for loading by repo id."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
GENRES = ["space war robots", "romance paris love", "detective murder city", "cartoon family fun"]


def write_dataset(root: Path, n_users: int = 60, n_items: int = 40, length: int = 12) -> Path:
    """Users drifting through the items in steps of +1 from a seeded start; item text by genre (item % 4)."""
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{(start + t) % n_items}", 1000 + 10 * t + u)
            for u, start in enumerate(rng.integers(0, n_items, n_users)) for t in range(length)]
    root.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(root / "interactions.csv", index=False)
    pd.DataFrame({"item_id": [f"i{i}" for i in range(n_items)], "title": [f"movie {i}" for i in range(n_items)],
                  "genres": [GENRES[i % 4] for i in range(n_items)]}).to_csv(root / "items.csv", index=False)
    return root


def write_recipe(tmp: Path, epochs: int = 2, models: str = "sasrec: {dim: 16, n_layers: 1, max_len: 8, dropout: 0.0}",
                 batch_size: int = 16, **dataset: int) -> Path:
    root = write_dataset(tmp / "toy", **dataset)
    recipe = tmp / "toy.yaml"
    recipe.write_text(f"""
name: toy
seeds: [0]
data: {{dataset: {root}, format: directory, text_fields: [title, genres], image_field: null}}
split: {{kinds: [leave-one-out]}}
eval: {{n_bins: 3}}
train:
  splits: [leave-one-out]
  epochs: {epochs}
  patience: 1000
  batch_size: {batch_size}
  progress: false
  models:
    {models}
""")
    return recipe


def env() -> dict[str, str]:
    """A child's environment: this worktree importable, offline, one thread per process (2 shared cores)."""
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def mmrec(*args: str) -> list[str]:
    return [sys.executable, "-m", "mmrec", *map(str, args)]


def torchrun(nproc: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "mmrec", *map(str, args)]


def install_in_hf_cache(cache: Path, folder: Path, repo_id: str, revision: str = "a" * 40) -> str:
    """Place a saved model folder in huggingface_hub's cache layout (``models--ORG--NAME/snapshots/REV/...`` plus
    ``refs/main`` = REV) under ``cache``, so it loads by repo id offline; returns the revision."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(folder, repo / "snapshots" / revision)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    return revision


def write_pad_recipe(tmp: Path) -> Path:
    """A toy new-items recipe that runs through the align and pad stages on random 8-d text embeddings."""
    import torch
    from safetensors.torch import save_file

    root = write_dataset(tmp / "toy")
    emb = torch.randn(41, 8, generator=torch.Generator().manual_seed(0))
    emb[0] = 0
    (tmp / "emb").mkdir()
    save_file({"embeddings": emb, "mask": torch.arange(41) > 0}, str(tmp / "emb" / "text.safetensors"))
    recipe = tmp / "toy-pad.yaml"
    recipe.write_text(f"""
name: toy-pad
seeds: [0]
data: {{dataset: {root}, format: directory, text_fields: [title, genres], image_field: null}}
split: {{kinds: [new-items]}}
eval: {{n_bins: 3}}
train: {{splits: [new-items], epochs: 1, batch_size: 32, progress: false,
         models: {{sasrec: {{dim: 8, n_layers: 1, n_heads: 2, max_len: 8}}}}}}
pad: {{enabled: true, content_dir: {tmp / 'emb'}, n_bins: 3, align_epochs: 1, finetune_epochs: 1,
       ablations: [uniform_gate]}}
""")
    return recipe


@contextlib.contextmanager
def one_torch_thread():
    """Torch on one thread inside (worker processes then get one each too), the caller's count restored after."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def record_worker_calls(monkeypatch, module) -> list[tuple[str, int, int]]:
    """Wrap ``module.run_in_workers``: each call is recorded as (function name, number of tasks, workers) and
    then run, so a test can check which path a stage took."""
    calls, original = [], module.run_in_workers

    def recording(fn, tasks, workers):
        calls.append((fn.__name__, len(tasks), workers))
        return original(fn, tasks, workers)

    monkeypatch.setattr(module, "run_in_workers", recording)
    return calls

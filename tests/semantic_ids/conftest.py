"""Shared fixtures: small synthetic embeddings, real ml-100k text embeddings, and one thread for FAISS and torch
(the CI machine is shared)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import faiss
import numpy as np
import pytest
import torch
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    faiss_threads, torch_threads = faiss.omp_get_max_threads(), torch.get_num_threads()
    faiss.omp_set_num_threads(1)
    torch.set_num_threads(1)
    yield
    faiss.omp_set_num_threads(faiss_threads)
    torch.set_num_threads(torch_threads)


@pytest.fixture(scope="session")
def clustered() -> np.ndarray:
    """800 x 16 float32 rows: 40 Gaussian clusters with decaying per-dimension scale (structure at every level)."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(40, 16)) * 3.0
    x = centres[rng.integers(40, size=800)] + rng.normal(size=(800, 16)) * np.linspace(1.0, 0.1, 16)
    return x.astype(np.float32)


@pytest.fixture(scope="session")
def ml100k_text_embeddings(data_root: Path) -> np.ndarray:
    """1,682 x 64 float32: every ml-100k item's title, genres and IMDb plot, TF-IDF then a 64-d truncated SVD.

    Real item content at ml-100k's catalogue size, built in a few seconds (a sentence encoder takes a minute here).
    """
    genres = [line.split("|")[0] for line in (data_root / "ml-100k" / "u.genre").read_text("latin-1").splitlines()
              if line]
    plots = {}
    for line in (data_root / "ml-100k-extras" / "imdb.jsonl").read_text().splitlines():
        record = json.loads(line)
        plots[int(record["movie_id"])] = record.get("description") or ""
    texts = []
    for line in (data_root / "ml-100k" / "u.item").read_text("latin-1").splitlines():
        if line:
            fields = line.split("|")
            names = " ".join(g for g, flag in zip(genres, fields[-len(genres):]) if flag == "1")
            texts.append(f"{fields[1]} {names} {plots.get(int(fields[0]), '')}")
    tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2).fit_transform(texts)
    return TruncatedSVD(64, random_state=0).fit_transform(tfidf).astype(np.float32)

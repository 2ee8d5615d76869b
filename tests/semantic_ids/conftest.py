"""Shared fixtures: small synthetic embeddings, and one thread for FAISS and torch (the CI machine is shared)."""

from __future__ import annotations

from collections.abc import Iterator

import faiss
import numpy as np
import pytest
import torch


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

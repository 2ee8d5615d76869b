"""Shared PAD fixtures: a synthetic split with never-seen items, item content, and tiny PAD models."""

import numpy as np
import pytest
import torch
from pad_models import N_ITEMS, backbone_config, build_pad, build_tower, new_backbone

from mmrec.data.splits import leave_one_out
from mmrec.pad.config import PADConfig


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one thread avoids OpenMP spin-waits on shared CPUs (minutes -> seconds here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _zipf(n):
    p = 1.0 / np.arange(1, n + 1)
    return p / p.sum()


@pytest.fixture(scope="session")
def split():
    rng = np.random.default_rng(0)
    popular = rng.permutation(np.arange(1, N_ITEMS - 4))  # items N-4..N never occur: never seen
    sequences = [np.zeros(0, np.int64)] + [rng.choice(popular, size=rng.integers(5, 15), p=_zipf(len(popular)))
                                           for _ in range(30)]
    return leave_one_out(sequences, N_ITEMS)


@pytest.fixture(scope="session")
def content():
    c = torch.randn(N_ITEMS + 1, 12, generator=torch.Generator().manual_seed(1))
    c[0] = 0
    return c


@pytest.fixture(scope="session")
def make_pad(split, content):
    """``make_pad(kind="sasrec", **pad_settings)``: an untrained PAD over a fresh anchor and tower, in eval mode."""

    def make(kind="sasrec", **settings):
        torch.manual_seed(0)
        cfg = backbone_config(kind)
        anchor = new_backbone(kind, cfg)
        settings = PADConfig(projector_layers=2, **settings)
        tower = build_tower(anchor, kind, content, split, settings)
        return build_pad(anchor, tower, kind, content, split, settings).eval()

    return make

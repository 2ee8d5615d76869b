"""Tiny synthetic CTR data (fast): a few users and items, random histories, random modality tables, and a
triple-expert item side over them (items 26-30 never seen in training)."""

from __future__ import annotations

import pytest
import torch

from mmrec import catalogue
from mmrec.ctr.build import build_ctr_model
from mmrec.data.ctr_batches import CTRSamples, FeatureSpec, pad_histories
from mmrec.items.triple import TripleExpertItems

NEVER_SEEN = list(range(26, 31))  # of the 30 tiny items


@pytest.fixture
def tiny_spec() -> FeatureSpec:
    return FeatureSpec(n_users=12, n_items=30, user_field_sizes=[4, 3], n_genres=5, max_history=6)


@pytest.fixture
def tiny_modalities(tiny_spec):
    g = torch.Generator().manual_seed(0)
    n = tiny_spec.n_items + 1
    tables = {}
    for name, dim, missing in (("text", 8, 0.0), ("image", 12, 0.3)):
        present = torch.rand(n, generator=g) >= missing
        present[0] = False
        present[3] = False  # at least one item without this modality
        tables[name] = (torch.randn(n, dim, generator=g) * present.unsqueeze(1), present)
    return tables


def make_samples(spec: FeatureSpec, n: int, seed: int = 0, learnable: bool = False) -> CTRSamples:
    """``n`` random samples; with ``learnable`` the label is a function of the target item (odd = click)."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(0, spec.max_history + 3, (n,), generator=g).tolist()
    lengths[0] = 0  # an event with no history at all
    histories = [torch.randint(1, spec.n_items + 1, (k,), generator=g).tolist() for k in lengths]
    history, mask = pad_histories(histories, spec.max_history)
    item = torch.randint(1, spec.n_items + 1, (n,), generator=g)
    label = (item % 2).float() if learnable else torch.randint(0, 2, (n,), generator=g).float()
    user_features = torch.stack([torch.randint(0, s, (spec.n_users + 1,), generator=g)
                                 for s in spec.user_field_sizes], 1)
    genres = (torch.rand(spec.n_items + 1, spec.n_genres, generator=g) > 0.6).float()
    return CTRSamples(user=torch.randint(1, spec.n_users + 1, (n,), generator=g), item=item, history=history,
                      history_mask=mask, label=label, user_features=user_features, item_genres=genres)


@pytest.fixture
def tiny_samples(tiny_spec) -> CTRSamples:
    return make_samples(tiny_spec, 64)


@pytest.fixture
def sample_factory():
    """``make_samples`` as a fixture, for tests that need several sample sets."""
    return make_samples


def tiny_item_side(spec: FeatureSpec, modalities, dim: int, with_codes: bool = True, **options) -> TripleExpertItems:
    """ID + the text table as content + random 2 x 2 codes; training counts with ``NEVER_SEEN`` items at zero."""
    g = torch.Generator().manual_seed(2)
    n = spec.n_items + 1
    counts = torch.randint(1, 40, (n,), generator=g)
    counts[[0, *NEVER_SEEN]] = 0
    codes = torch.randint(0, 4, (n, 2, 2), generator=g)
    codes[0] = 0
    return TripleExpertItems(counts, modalities["text"][0], dim, codes if with_codes else None, n_bins=3, **options)


def build_tiny(name: str, spec: FeatureSpec, tables, dim: int = 8, **overrides):
    """A registry model with ``embed_dim = dim`` and modality ``tables``, seeded; ``*_te`` models get
    :func:`tiny_item_side`."""
    torch.manual_seed(0)
    side = tiny_item_side(spec, tables, dim) if catalogue.resolve(name)[1].triple_items else None
    return build_ctr_model(name, spec, tables, {"embed_dim": dim, **overrides}, side)


@pytest.fixture
def item_side_factory():
    """``tiny_item_side`` as a fixture: ``(spec, modalities, dim, with_codes=True, **options)``."""
    return tiny_item_side


@pytest.fixture
def model_factory():
    """``build_tiny`` as a fixture: ``(name, spec, tables, dim=8, **config_overrides)``."""
    return build_tiny


@pytest.fixture
def never_seen_items() -> list[int]:
    return list(NEVER_SEEN)

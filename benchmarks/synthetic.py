"""Seeded synthetic interaction data in the bring-your-own layout, for scale benchmarks and tests.

    python benchmarks/synthetic.py OUT_DIR --interactions 1000000 [--users N] [--items N] [--seed 0]

Writes ``OUT_DIR/interactions.parquet`` (``user_id, item_id, timestamp, rating``, rows in global time order,
as exported logs usually are) and ``OUT_DIR/items.parquet`` (``item_id, title, genres``), which
``mmrec.data.load_directory`` reads like any user's dataset. The shape imitates real logs:

- item popularity is a power law (Zipf, exponent ``zipf``): a few head items take most interactions and
  the tail is long; item IDs are a seeded permutation of popularity ranks, so ID order says nothing;
- per-user sequence lengths are log-normal above ``min_length`` (many short users, a heavy tail of long
  ones), scaled so the total is exactly ``interactions``;
- each user starts at a uniform time over two years and then acts with exponential gaps (mean ~ a day,
  whole seconds, so some events share a timestamp and file order breaks the tie);
- ratings 1-5 with MovieLens' marginal distribution.

Default sizes follow the benchmark: users = interactions / 20, items = interactions / 100.
Everything is vectorised NumPy, so 20M interactions take seconds and about 1 GB.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

GENRES = ("Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
          "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")
WORDS = ("red", "night", "river", "last", "city", "dream", "iron", "summer", "ghost", "golden", "silent", "wild",
         "storm", "secret", "lost", "north", "glass", "empire", "road", "heart", "shadow", "winter", "blue", "star")
RATING_SHARES = (0.061, 0.114, 0.271, 0.342, 0.212)  # ml-100k's 1..5
TWO_YEARS = 2 * 365 * 86_400


@dataclasses.dataclass
class SyntheticSpec:
    interactions: int
    users: int | None = None  # default interactions // 20
    items: int | None = None  # default interactions // 100
    zipf: float = 1.0  # item popularity ~ 1 / rank ** zipf
    length_sigma: float = 1.0  # log-normal spread of per-user sequence lengths
    min_length: int = 5
    mean_gap_seconds: float = 86_400.0
    seed: int = 0

    @property
    def n_users(self) -> int:
        return self.users or max(self.interactions // 20, 1)

    @property
    def n_items(self) -> int:
        return self.items or max(self.interactions // 100, 1)


def sequence_lengths(spec: SyntheticSpec, rng: np.random.Generator) -> np.ndarray:
    """Per-user lengths >= min_length, log-normal above it, summing exactly to ``spec.interactions``."""
    n_users, extra = spec.n_users, spec.interactions - spec.min_length * spec.n_users
    if extra < 0:
        raise ValueError(f"{spec.interactions} interactions cannot give {n_users} users {spec.min_length} each")
    weights = rng.lognormal(0.0, spec.length_sigma, size=n_users)
    lengths = spec.min_length + np.floor(weights / weights.sum() * extra).astype(np.int64)
    short = spec.interactions - int(lengths.sum())  # < n_users left over by the floors
    lengths[rng.choice(n_users, size=short, replace=False)] += 1
    return lengths


def generate(spec: SyntheticSpec) -> tuple[pa.Table, pa.Table]:
    """(interactions, items) Arrow tables; the same spec always gives the same tables."""
    rng = np.random.default_rng(spec.seed)
    n_users, n_items = spec.n_users, spec.n_items
    lengths = sequence_lengths(spec, rng)
    popularity = 1.0 / np.arange(1, n_items + 1, dtype=np.float64) ** spec.zipf
    cdf = np.cumsum(popularity / popularity.sum())
    rank_to_item = rng.permutation(n_items)
    items = rank_to_item[np.minimum(np.searchsorted(cdf, rng.random(spec.interactions)), n_items - 1)]
    users = np.repeat(np.arange(n_users, dtype=np.int64), lengths)
    gaps = np.floor(rng.exponential(spec.mean_gap_seconds, size=spec.interactions)).astype(np.int64)
    starts = np.cumsum(lengths) - lengths
    elapsed = np.cumsum(gaps)
    elapsed -= np.repeat(elapsed[starts], lengths)  # each user's clock starts at 0 at their first event
    timestamp = 1_500_000_000 + np.repeat(rng.integers(0, TWO_YEARS, size=n_users), lengths) + elapsed
    del gaps, elapsed
    rating = (np.searchsorted(np.cumsum(RATING_SHARES), rng.random(spec.interactions) * sum(RATING_SHARES))
              + 1).astype(np.int8)
    order = np.argsort(timestamp, kind="stable")  # a log export: global time order, users interleaved
    user_ids = rng.permutation(n_users).astype(np.int64) + 1_000_000  # opaque IDs, not 1..U
    interactions = pa.table({"user_id": user_ids[users[order]], "item_id": items[order].astype(np.int64) + 1,
                             "timestamp": timestamp[order], "rating": rating[order]})
    words = np.asarray(WORDS)
    title_words = words[rng.integers(0, len(words), size=(n_items, 2))]
    genre_hot = rng.random((n_items, len(GENRES))) < 2.0 / len(GENRES)
    genre_hot[np.arange(n_items), rng.integers(0, len(GENRES), size=n_items)] = True  # at least one genre
    item_table = pa.table({
        "item_id": np.arange(1, n_items + 1, dtype=np.int64),
        "title": [f"The {a.capitalize()} {b.capitalize()} {i}" for i, (a, b) in enumerate(title_words, 1)],
        "genres": [", ".join(GENRES[g] for g in np.flatnonzero(row)) for row in genre_hot],
    })
    return interactions, item_table


def write_dataset(spec: SyntheticSpec, out: str | Path) -> Path:
    """Write the two parquet files of ``spec`` into ``out`` (created); returns ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    interactions, items = generate(spec)
    pq.write_table(items, out / "items.parquet")
    pq.write_table(interactions, out / "interactions.parquet", row_group_size=1 << 20)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--interactions", type=int, required=True)
    parser.add_argument("--users", type=int)
    parser.add_argument("--items", type=int)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write_dataset(SyntheticSpec(args.interactions, args.users, args.items, seed=args.seed), args.out)


if __name__ == "__main__":
    main()

"""A model's row of a sequential report across seeds: metrics as ``{"mean", "std", "n"}``, plus its tables' spectra.

``table_stats`` describes the learned item tables of one trained model (information abundance, singular spectrum:
dimensional collapse shows as a fast decay); ``summarise`` combines per-seed evaluation dicts into one row.
"""

from __future__ import annotations

import numpy as np

from mmrec.core.seeds import aggregate_seeds
from semantic_ids import embedding_stats


def table_stats(item_repr) -> dict:
    """Singular spectrum and information abundance of the learned item tables: ``id`` and each code table."""
    tables = dict(item_repr.code_tables()) if hasattr(item_repr, "code_tables") else {}
    id_table = getattr(item_repr, "id_embedding", item_repr)
    if hasattr(id_table, "weight"):
        tables["id"] = id_table.weight.weight[1:]  # row 0 is padding
    return {name: {k: (round(v, 4) if isinstance(v, float) else [round(x, 4) for x in v]) for k, v in st.items()}
            for name, st in embedding_stats({n: w.detach().cpu().numpy() for n, w in tables.items()}).items()}


def summarise_tables(per_seed: list[dict]) -> dict:
    """Per table: information abundance (mean, std over seeds) and the seed-mean singular spectrum."""
    out = {}
    for name in per_seed[0].get("embedding_tables", {}):
        abundance = [r["embedding_tables"][name]["information_abundance"] for r in per_seed]
        spectra = np.array([r["embedding_tables"][name]["singular_values"] for r in per_seed])
        out[name] = {"information_abundance": aggregate_seeds(abundance),
                     "singular_values": [round(float(v), 4) for v in spectra.mean(0)]}
    return out


def summarise(per_seed: list[dict]) -> dict:
    """Per-seed evaluation dicts -> one row: every metric ``{"mean", "std", "n"}`` (one seed: std 0, n 1)."""
    row = aggregate_seeds([{k: v for k, v in r.items() if k != "embedding_tables"} for r in per_seed])
    if "embedding_tables" in per_seed[0]:
        row["embedding_tables"] = summarise_tables(per_seed)
    return row

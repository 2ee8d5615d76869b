"""The CTR report's "Embedding analysis" section: what the ``ctr`` stage records per model, and how it renders.

:func:`analyse_ctr_model` (the stage calls it once per model, on the first seed's trained model) finds the model's
embedding tables and measures, over the test events: IA, effective rank and the singular spectrum of every table
(over the rows the events look up, each weighted by its count, and over all its rows); the learned field-pair
correlation of the looked-up vectors beside the mutual information of the raw field values; and the cosine between
the gradients that the user domains (age bands, the first user field without one) send to the item table on
training events. The result is JSON kept in ``results.json``, so ``mmrec report`` re-renders the section without
the model: :func:`embedding_tables` gives its tables, :func:`embedding_plots` its PNGs.
"""

from __future__ import annotations

import torch
from torch import nn

from mmrec.data.ctr_batches import AGE_EDGES, CTRSamples
from mmrec.eval.embedding_analysis import (
    analyse_tables,
    entanglement,
    field_correlation,
    field_mutual_information,
    find_embedding_tables,
)

ITEM_TABLE_PATHS = ("item_repr.weight", "item_repr.id_expert.weight")  # ID table; plain / triple-expert item side
def _subsample(n: int, limit: int, seed: int) -> torch.Tensor:
    if n <= limit:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit].sort().values


def _domain_names(field: str, codes: list[int]) -> dict[int, str]:
    if field != "age":
        return {c: f"{field}={c}" for c in codes}
    edges = ["?", f"<{AGE_EDGES[0]}", *[f"{a}-{b - 1}" for a, b in zip(AGE_EDGES[:-1], AGE_EDGES[1:])],
             f"{AGE_EDGES[-1]}+"]
    return {c: f"age {edges[c]}" for c in codes}


def _domain_entanglement(model: nn.Module, table: torch.Tensor, train: CTRSamples, user_fields: list[str],
                         events: int, min_events: int, seed: int) -> dict | None:
    """Gradient cosine between the click losses of the user domains on ``table`` (training events, eval mode)."""
    if not user_fields or not len(train):
        return None
    column = user_fields.index("age") if "age" in user_fields else 0
    codes = train.user_features[train.user, column]
    values = [int(v) for v in torch.unique(codes) if int((codes == v).sum()) >= min_events]
    if len(values) < 2:
        return None
    device = table.device
    names = _domain_names(user_fields[column], values)
    batches, sizes = {}, {}
    for v in values:
        rows = torch.nonzero(codes == v).squeeze(1)
        rows = rows[_subsample(len(rows), events, seed + v)]
        batches[names[v]] = train.batch(rows).to(device)
        sizes[names[v]] = len(rows)

    def loss_of(batch):
        return lambda: model.loss(model(batch), batch.label)["bce"]

    was_training = model.training
    model.eval()
    with torch.enable_grad():
        result = entanglement(table, {name: loss_of(b) for name, b in batches.items()})
    model.train(was_training)
    return {"table": "item", "domain_field": user_fields[column], "events": sizes, **result}


def analyse_ctr_model(model: nn.Module, test: CTRSamples, train: CTRSamples, user_fields: list[str], seed: int = 0,
                      max_events: int = 20000, domain_events: int = 2048, min_domain_events: int = 100) -> dict:
    """The section's JSON for one trained CTR model (see the module docstring); ``seed`` = the model's seed."""
    rename = {"features.user": "user", **{f"features.user_fields.{i}": f for i, f in enumerate(user_fields)},
              **{path: "item" for path in ITEM_TABLE_PATHS}}
    shared = find_embedding_tables(model, rename)
    tables = {k: w.detach().cpu() for k, w in shared.items()}
    rows = _subsample(len(test), max_events, seed)
    user = test.user[rows]
    indices = {"user": user, "item": test.item[rows],
               **{f: test.user_features[user, i] for i, f in enumerate(user_fields)}}
    indices = {k: v for k, v in indices.items() if k in tables}
    analysis = analyse_tables(tables, indices)
    looked_up = {k: tables[k][v] for k, v in indices.items() if k in analysis}
    dims = {k: v.shape[1] for k, v in looked_up.items()}
    common = max(set(dims.values()), key=list(dims.values()).count) if dims else None
    looked_up = {k: v for k, v in looked_up.items() if dims[k] == common}
    return {"seed": seed, "events": len(rows), "tables": analysis,
            "correlation": field_correlation(looked_up) if len(looked_up) > 1 else None,
            "mutual_information": field_mutual_information({k: indices[k].numpy() for k in looked_up})
            if len(looked_up) > 1 else None,
            "entanglement": _domain_entanglement(model, shared["item"], train, user_fields, domain_events,
                                                 min_domain_events, seed) if "item" in shared else None}


# ------------------------------------------------------------------------------------------------ rendering

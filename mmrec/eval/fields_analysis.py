"""The embedding analysis of a feature-layer (zoo) model, per field, in the JSON the CTR report renders.

Each categorical-like field (categorical, domain, context parts, multi-categorical, sequence sub-fields with their
own vocabulary) owns one block of the feature layer's shared table; its IA, effective rank and normalised
spectrum are measured over the rows the test events look up (weighted by their count) and over the whole block
(:func:`mmrec.eval.embedding_analysis.analyse_tables`). The one-token fields' looked-up vectors give the learned
field-pair correlation, beside the mutual information of their raw values; with a ``domain`` field, the gradient
cosine between the domains' click losses on the shared table (training events, eval mode) is the entanglement.
Same shape as :func:`mmrec.eval.embedding_report.analyse_ctr_model`'s, so
:func:`mmrec.eval.embedding_section.embedding_tables` / ``embedding_plots`` render it.
"""

from __future__ import annotations

from typing import Any

import torch

from mmrec.eval.embedding_analysis import analyse_tables, entanglement, field_correlation, field_mutual_information


def _subsample(n: int, limit: int, seed: int) -> torch.Tensor:
    if n <= limit:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit].sort().values


def field_blocks(model: Any) -> dict[str, tuple[torch.Tensor, bool]]:
    """``{field: (its table block, one token per event)}`` of every field that owns a block."""
    out = {}
    for entry in model.feature_map.features:
        for sub in entry.fields or [entry]:
            if sub.kind in ("categorical", "multi_categorical") and not sub.vocabulary_of:
                start = model.features.offsets[sub.name]  # sequence sub-fields included (field_table: flat only)
                block = model.features.table.weight[start:start + sub.size].detach().cpu()
                out[sub.name] = (block, sub.kind == "categorical" and sub.role != "sequence")
    return out


def _domain_entanglement(model: Any, train: dict[str, torch.Tensor], events: int, min_events: int,
                         seed: int) -> dict | None:
    """Gradient cosine between the click losses of the first domain field's values on the shared table."""
    domain = next((e for e in model.feature_map.features if e.role == "domain" and e.kind == "categorical"), None)
    if domain is None or getattr(model, "tasks", None):  # multi-task models score several labels: not one loss
        return None
    codes = train[domain.name]
    values = [int(v) for v in torch.unique(codes) if int(v) > 1 and int((codes == v).sum()) >= min_events]
    if len(values) < 2:
        return None
    batches, sizes = {}, {}
    for v in values:
        rows = torch.nonzero(codes == v).squeeze(1)
        rows = rows[_subsample(len(rows), events, seed + v)]
        name = f"{domain.name}={domain.vocab[v - 2]}"
        batches[name] = {k: t[rows] for k, t in train.items()}
        sizes[name] = len(rows)

    def loss_of(batch: dict[str, torch.Tensor]):
        return lambda: _click_loss(model, batch)

    was_training = model.training
    model.eval()
    with torch.enable_grad():
        result = entanglement(model.features.table.weight, {n: loss_of(b) for n, b in batches.items()})
    model.train(was_training)
    return {"table": "shared feature", "domain_field": domain.name, "events": sizes, **result}


def _click_loss(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    inputs = model.features.pack({k: t for k, t in batch.items() if k not in model.feature_map.labels})
    return model.loss(model(inputs), batch[model.label].float())["bce"]


def reads_the_table(model: Any, train: dict[str, torch.Tensor], rows: int = 512) -> bool:
    """Whether the click loss sends any gradient to the shared table (LR reads only its first-order weights, so
    its table stays at its random initialisation and says nothing about collapse)."""
    if getattr(model, "tasks", None):
        return True  # multi-task models: several losses; their tables are read by construction
    was_training = model.training
    model.eval()
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(_click_loss(model, {k: v[:rows] for k, v in train.items()}),
                                      model.features.table.weight, allow_unused=True)
    model.train(was_training)
    return grad is not None and bool(grad.abs().sum() > 0)


def analyse_fields_model(model: Any, test: dict[str, torch.Tensor], train: dict[str, torch.Tensor], seed: int = 0,
                         max_events: int = 20_000, domain_events: int = 2048, min_domain_events: int = 100
                         ) -> dict | None:
    """The report section's JSON for one trained zoo model (see the module docstring); None when its loss does not
    read the embedding table (:func:`reads_the_table`)."""
    if not reads_the_table(model, train):
        return None
    n = len(next(iter(test.values())))
    rows = _subsample(n, max_events, seed)
    blocks = field_blocks(model)
    tables = {name: block for name, (block, _) in blocks.items()}
    indices = {name: test[name][rows] for name in blocks}
    analysis = analyse_tables(tables, indices)
    single = [name for name, (_, one) in blocks.items() if one and name in analysis]
    looked_up = {name: tables[name][indices[name]] for name in single}
    return {"seed": seed, "events": len(rows), "tables": analysis,
            "correlation": field_correlation(looked_up) if len(looked_up) > 1 else None,
            "mutual_information": field_mutual_information({k: indices[k].numpy() for k in single})
            if len(single) > 1 else None,
            "entanglement": _domain_entanglement(model, train, domain_events, min_domain_events, seed)}

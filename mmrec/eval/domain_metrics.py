"""Per-domain CTR metrics and cross-domain / cross-task entanglement of a multi-domain model (ZOO.md §1, §4).

Multi-domain claims are about the weakest domain: :func:`domain_report` gives AUC / GAUC / LogLoss per domain and
the worst domain's. :func:`model_entanglement` is the foundation's gradient-cosine tool
(:func:`mmrec.eval.embedding_analysis.entanglement`) applied to a trained model: the loss of each domain's rows
(or of each task) as one closure, cosines of what they send to the shared embedding table.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mmrec.eval.ctr_metrics import auc, gauc, logloss
from mmrec.eval.embedding_analysis import entanglement

UNSEEN = "<unseen>"


def domain_report(domains: np.ndarray, labels: np.ndarray, probs: np.ndarray, users: np.ndarray | None = None,
                  names: list[str] | None = None) -> dict[str, Any]:
    """``{"domains": {name: {AUC, GAUC, LogLoss, n}}, "worst": {AUC, AUC_domain, GAUC, GAUC_domain}}``.

    ``domains``: (N,) codes 0..D-1 (-1 = unseen, reported as ``<unseen>`` but left out of the worst);
    ``names[d]``: domain d's name (default its code). GAUC is None without ``users``. A domain whose events hold
    one class has AUC None and is left out of the worst.
    """
    domains, labels, probs = np.asarray(domains), np.asarray(labels), np.asarray(probs)
    per: dict[str, dict] = {}
    for code in np.unique(domains):
        sel = domains == code
        name = UNSEEN if code < 0 else (names[code] if names else str(int(code)))
        per[name] = {"AUC": auc(labels[sel], probs[sel]),
                     "GAUC": gauc(np.asarray(users)[sel], labels[sel], probs[sel]) if users is not None else None,
                     "LogLoss": logloss(labels[sel], probs[sel]), "n": int(sel.sum())}
    worst: dict[str, Any] = {}
    for metric in ("AUC", "GAUC"):
        scored = {k: v[metric] for k, v in per.items() if k != UNSEEN and v[metric] is not None}
        name = min(scored, key=scored.get) if scored else None
        worst[metric], worst[f"{metric}_domain"] = (scored[name], name) if name else (None, None)
    return {"domains": per, "worst": worst}


def model_domain_report(model, data: dict[str, torch.Tensor], user_field: str = "", task: str = "",
                        batch_size: int = 65_536) -> dict[str, Any]:
    """:func:`domain_report` of a multi-domain model's ``task`` (default its first) on encoded ``data``."""
    task = task or model.tasks[0]
    inputs = model.features.pack({k: v for k, v in data.items() if k not in model.feature_map.labels})
    probs = model.predict_tasks(inputs, batch_size)[:, model.tasks.index(task)]
    with torch.no_grad():
        domains = model.sample_domains(inputs).numpy()
    users = data[user_field].numpy() if user_field else None
    return domain_report(domains, data[task].numpy(), probs, users, model.domain_values)


def model_entanglement(model, data: dict[str, torch.Tensor], by: str = "domain", max_rows: int = 8192,
                       table: torch.Tensor | None = None) -> dict:
    """Gradient-cosine matrix on ``table`` (default the shared feature-layer table) between the losses of each
    domain's rows (``by="domain"``: every task's BCE on that domain) or of each task (``by="task"``: its BCE on all
    rows), on the first ``max_rows`` rows of ``data``, in eval mode (no dropout, batch norm statistics frozen)."""
    if by not in ("domain", "task"):
        raise ValueError(f"by='{by}' is not 'domain' or 'task'")
    table = model.features.table.weight if table is None else table
    inputs = model.features.pack({k: v[:max_rows] for k, v in data.items() if k not in model.feature_map.labels})
    labels = torch.stack([data[t][:max_rows].float() for t in model.tasks], 1)
    was_training = model.training
    model.eval()

    def loss_of(rows: torch.Tensor | None, column: int | None):
        def closure() -> torch.Tensor:
            logits = model.outputs(inputs).logits
            y = labels
            if rows is not None:
                logits, y = logits[rows], y[rows]
            if column is not None:
                logits, y = logits[:, column], y[:, column]
            return F.binary_cross_entropy_with_logits(logits, y)
        return closure

    if by == "task":
        losses = {task: loss_of(None, k) for k, task in enumerate(model.tasks)}
    else:
        with torch.no_grad():
            domains = model.sample_domains(inputs)
        losses = {name: loss_of((domains == d).nonzero().squeeze(1), None)
                  for d, name in enumerate(model.domain_values) if (domains == d).any()}
    result = entanglement(table, losses)
    model.train(was_training)
    return result

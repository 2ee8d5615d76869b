"""D-Train (ZOO.md §4 [paper]): a tri-phase training schedule for any multi-domain model, no extra hyper-parameters.

1. pre-train the backbone ψ and one head h₀ on every domain (every sample routed to domain 0's parts);
2. copy h₀ into all T domain heads, train ψ and the heads, each sample routed to its own domain's head;
3. freeze ψ; fine-tune each head on its own domain's rows only (early stopping on that domain's validation).

"Head" = the model's :meth:`~mmrec.models.zoo.multidomain.base.MultiDomainModel.domain_parts` (towers; gates and
domain experts where the model has them), "backbone" = everything else. Assumed: each phase uses the
multi-task trainer's early stopping on validation (phase 1 with the single head, phase 3 per domain).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import torch
from torch import nn

from mmrec.models.zoo.multidomain.base import MultiDomainModel
from mmrec.train.fields import FieldTrainResult
from mmrec.train.multitask import MultiTaskTrainConfig, evaluate_tasks, train_multitask


@dataclasses.dataclass
class DTrainConfig:
    pretrain: MultiTaskTrainConfig = dataclasses.field(default_factory=MultiTaskTrainConfig)
    post_train: MultiTaskTrainConfig = dataclasses.field(default_factory=MultiTaskTrainConfig)
    fine_tune: MultiTaskTrainConfig = dataclasses.field(default_factory=MultiTaskTrainConfig)


@dataclasses.dataclass
class DTrainResult:
    pretrain: FieldTrainResult
    post_train: FieldTrainResult
    fine_tune: dict[str, FieldTrainResult]  # domain name -> its head's fine-tuning (domains without valid AUC absent)


@torch.no_grad()
def copy_domain_parts(model: MultiDomainModel, source: int = 0) -> None:
    """Every domain's parts become exact copies of domain ``source``'s (phase 2's start: h₀ into T heads)."""
    for parts in model.domain_parts():
        state = parts[source].state_dict()
        for d, part in enumerate(parts):
            if d != source:
                part.load_state_dict(state)


def _rows(data: dict[str, torch.Tensor], rows: torch.Tensor) -> dict[str, torch.Tensor]:
    return {k: v[rows] for k, v in data.items()}


def _domain_rows(model: MultiDomainModel, data: dict[str, torch.Tensor], domain: int) -> torch.Tensor:
    packed = model.features.pack({k: v for k, v in data.items() if k not in model.feature_map.labels})
    return (model.sample_domains(packed) == domain).nonzero().squeeze(1)


def head_parameters(model: MultiDomainModel, domain: int) -> list[nn.Parameter]:
    return [p for parts in model.domain_parts() for p in parts[domain].parameters()]


def backbone_batch_norms(model: MultiDomainModel) -> list[nn.Module]:
    """Batch-norm layers outside every domain part (kept in eval mode while the backbone is frozen)."""
    inside = {id(m) for parts in model.domain_parts() for m in parts.modules()}
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and id(m) not in inside]


def dtrain(model: MultiDomainModel, train: dict[str, torch.Tensor], valid: dict[str, torch.Tensor],
           config: DTrainConfig, on_phase: Callable[[str], None] | None = None) -> DTrainResult:
    """Run the three phases on ``model`` in place; the caller seeds before building it. ``on_phase(name)`` is
    called as each phase starts ("pretrain", "post_train", "fine_tune")."""
    on_phase = on_phase or (lambda name: None)
    on_phase("pretrain")
    model.forced_domain = 0
    try:
        pretrain = train_multitask(model, train, valid, config.pretrain)
    finally:
        model.forced_domain = None
    copy_domain_parts(model, 0)
    on_phase("post_train")
    post_train = train_multitask(model, train, valid, config.post_train)
    fine_tune: dict[str, FieldTrainResult] = {}
    trainable = {p: p.requires_grad for p in model.parameters()}
    frozen_norms = backbone_batch_norms(model)
    on_phase("fine_tune")
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        for d, name in enumerate(model.domain_values):
            train_d = _rows(train, _domain_rows(model, train, d))
            valid_d = _rows(valid, _domain_rows(model, valid, d))
            if not len(train_d[model.tasks[0]]) or evaluate_tasks(model, valid_d)[config.fine_tune.monitor_key()] is None:
                continue  # no rows or one class in this domain's validation: nothing to fine-tune against
            params = head_parameters(model, d)
            for p in params:
                p.requires_grad_(True)
            fine_tune[name] = train_multitask(model, train_d, valid_d, config.fine_tune, parameters=params,
                                              frozen_modules=frozen_norms)
            for p in params:
                p.requires_grad_(False)
    finally:
        for p, flag in trainable.items():
            p.requires_grad_(flag)
    model.eval()
    return DTrainResult(pretrain, post_train, fine_tune)

"""Training of multi-task / multi-domain zoo models: one BCE per label, summed with ``task_weights`` (plus the
model's auxiliary losses), early stopping on the mean validation AUC over the labels or on ``monitor_task``'s.

The loop is :mod:`mmrec.train.fields`'s (Adam, gradient clip, FuxiCTR's plateau rule, best epoch restored) with
two hooks D-Train (:mod:`mmrec.train.dtrain`) uses: ``parameters`` (train only these) and ``score`` (the
validation metrics to monitor, e.g. one domain's).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Iterable

import numpy as np
import torch

from mmrec.eval.ctr_metrics import auc, logloss
from mmrec.models.zoo.multidomain.base import MultiTaskModel
from mmrec.train.common import EarlyStopping
from mmrec.train.fields import MIN_DELTA, FieldTrainConfig, FieldTrainResult, decay_lr, seed_all


@dataclasses.dataclass
class MultiTaskTrainConfig(FieldTrainConfig):
    task_weights: dict[str, float] = dataclasses.field(default_factory=dict)  # label -> loss weight (default 1)
    monitor_task: str = ""  # early stopping on this label's validation metric ("" = the mean over labels)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.loss != "bce" or self.pos_weight != 1.0:
            raise ValueError("multi-task training sums plain BCE per label; loss / pos_weight are single-label options")

    def monitor_key(self) -> str:
        return f"{self.monitor}_{self.monitor_task}" if self.monitor_task else self.monitor


def label_matrix(model: MultiTaskModel, data: dict[str, torch.Tensor]) -> torch.Tensor:
    """(N, T) float labels in ``model.tasks`` order."""
    missing = [t for t in model.tasks if t not in data]
    if missing:
        raise ValueError(f"the data holds no label {missing} (it has {sorted(data)})")
    return torch.stack([data[t].float() for t in model.tasks], 1)


def evaluate_tasks(model: MultiTaskModel, data: dict[str, torch.Tensor], batch_size: int = 65_536
                   ) -> dict[str, float]:
    """``AUC_<task>`` / ``LogLoss_<task>`` per label and their means ``AUC`` / ``LogLoss`` (labels with one class
    skipped in the AUC mean)."""
    labels = label_matrix(model, data).numpy()
    probs = model.predict_tasks(data, batch_size)
    out: dict[str, float] = {}
    for k, task in enumerate(model.tasks):
        out[f"AUC_{task}"] = auc(labels[:, k], probs[:, k])
        out[f"LogLoss_{task}"] = logloss(labels[:, k], probs[:, k])
    aucs = [out[f"AUC_{t}"] for t in model.tasks if out[f"AUC_{t}"] is not None]
    out["AUC"] = float(np.mean(aucs)) if aucs else None
    out["LogLoss"] = float(np.mean([out[f"LogLoss_{t}"] for t in model.tasks]))
    return out


def train_multitask(model: MultiTaskModel, train: dict[str, torch.Tensor], valid: dict[str, torch.Tensor],
                    config: MultiTaskTrainConfig, parameters: Iterable[torch.nn.Parameter] | None = None,
                    score: Callable[[MultiTaskModel], dict[str, float]] | None = None,
                    frozen_modules: Iterable[torch.nn.Module] = ()) -> FieldTrainResult:
    """Fit ``model`` in place, best validation epoch restored. ``parameters``: the ones to train (default all);
    ``score``: validation metrics of the model (default :func:`evaluate_tasks` on ``valid``);
    ``frozen_modules``: kept in eval mode while training (a frozen backbone's batch norms keep their statistics)."""
    frozen_modules = list(frozen_modules)
    if config.threads:
        torch.set_num_threads(config.threads)
    seed_all(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    inputs = model.features.pack({k: v for k, v in train.items() if k not in model.feature_map.labels})
    labels = label_matrix(model, train)
    n = labels.shape[0]
    params = [p for p in (model.parameters() if parameters is None else parameters) if p.requires_grad]
    optimiser = torch.optim.Adam(params, lr=config.lr)
    score = score or (lambda m: evaluate_tasks(m, valid, config.eval_batch_size))
    key, sign = config.monitor_key(), (1.0 if config.monitor == "AUC" else -1.0)
    stopper = EarlyStopping(config.patience, min_delta=MIN_DELTA)
    best_state, history, step_seconds = None, [], 0.0
    started = time.perf_counter()
    for epoch in range(config.max_epochs):
        model.train()
        for module in frozen_modules:
            module.eval()
        order = torch.randperm(n, generator=generator)
        losses = []
        tick = time.perf_counter()
        for start in range(0, n, config.batch_size):
            idx = order[start:start + config.batch_size]
            loss = model.task_loss(model.outputs({k: v[idx] for k, v in inputs.items()}), labels[idx],
                                   config.task_weights)
            optimiser.zero_grad(set_to_none=True)
            loss["loss"].backward()
            if config.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimiser.step()
            losses.append(loss["bce"].detach())
        step_seconds += time.perf_counter() - tick
        metrics = score(model)
        history.append({"epoch": epoch, "train_bce": float(torch.stack(losses).mean()),
                        "lr": optimiser.param_groups[0]["lr"], **metrics})
        value = sign * metrics[key] if metrics[key] is not None else -float("inf")
        if stopper.step(value, epoch):
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            if config.reduce_lr_on_plateau:
                decay_lr(optimiser)
            if stopper.should_stop:
                break
    fit_seconds = time.perf_counter() - started
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    best_epoch = max(stopper.best_epoch, 0)
    kept = {k: v for k, v in history[best_epoch].items() if k not in ("epoch", "train_bce", "lr")}
    return FieldTrainResult(best_epoch, kept, len(history), history, fit_seconds, step_seconds,
                            len(history) * n / fit_seconds)

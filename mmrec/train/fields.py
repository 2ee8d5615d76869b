"""Training of zoo models on pre-encoded field tensors: Adam, early stopping on validation AUC (or LogLoss).

BARS defaults: batch 4096, lr 1e-3 (embedding 10 is the model config's). As FuxiCTR does, a validation epoch
that does not improve divides the learning rate by 10 (``reduce_lr_on_plateau``, floor 1e-6), ``patience``
such epochs stop training, and the best epoch's weights are restored. ``loss`` / ``pos_weight`` / ``alpha``
choose the objective (:mod:`mmrec.train.ranking_loss`); the default, unweighted BCE, is the model's own loss.
Batches are index gathers on tensors encoded once (no DataLoader, no per-batch Python encoding), so the step is
the cost.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time

import numpy as np
import torch
import torch.nn.functional as F

from mmrec.eval.ctr_metrics import auc, logloss
from mmrec.models.zoo.base import ZooModel
from mmrec.train.common import EarlyStopping
from mmrec.train.ranking_loss import RankingLossConfig, click_logit, ctr_loss

MIN_LR, LR_FACTOR, MIN_DELTA = 1e-6, 0.1, 1e-6  # FuxiCTR's plateau rule
log = logging.getLogger("mmrec")


@dataclasses.dataclass
class FieldTrainConfig:
    lr: float = 1e-3
    batch_size: int = 4096
    max_epochs: int = 100
    patience: int = 2
    monitor: str = "AUC"          # or "LogLoss" (lower is better)
    reduce_lr_on_plateau: bool = True
    seed: int = 0
    max_grad_norm: float = 10.0   # gradient-norm clip (FuxiCTR's default); 0 = none
    threads: int = 0              # 0: leave torch's thread count as it is
    eval_batch_size: int = 65_536
    loss: str = "bce"             # bce / combined_pair / combined_list / rcr / jrc / focal
    pos_weight: float = 1.0       # weight of each positive in the loss (< 1 simulates sparse positives)
    alpha: float | None = None    # BCE share of a ranking loss; None = ZOO.md's best α for pos_weight

    def __post_init__(self) -> None:
        self.objective()  # an unknown loss or a bad pos_weight / alpha stops a recipe at load time

    def objective(self) -> RankingLossConfig:
        return RankingLossConfig(self.loss, self.pos_weight, self.alpha)


@dataclasses.dataclass
class FieldTrainResult:
    best_epoch: int
    best_valid: dict[str, float]
    epochs: int
    history: list[dict[str, float]]
    fit_seconds: float             # the whole fit, validation included
    train_seconds: float           # optimiser steps only
    samples_per_s: float           # training samples / fit_seconds (validation included, as FuxiCTR's log reads)


def seed_all(seed: int) -> None:
    """Seed Python, NumPy and torch without torch's deterministic mode: CPU kernels here are deterministic
    already, and that mode fills every new tensor (10% of a DeepFM step, measured)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def evaluate(model: ZooModel, data: dict[str, torch.Tensor], batch_size: int = 65_536) -> dict[str, float]:
    """AUC and LogLoss of ``model`` on encoded ``data`` (which holds the model's label)."""
    labels = data[model.label].numpy()
    probs = model.predict({k: v for k, v in data.items() if k not in model.feature_map.labels}, batch_size)
    return {"AUC": auc(labels, probs), "LogLoss": logloss(labels, probs)}


def _split(model: ZooModel, data: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    inputs = model.features.pack({k: v for k, v in data.items() if k not in model.feature_map.labels})
    return inputs, data[model.label].float()


def decay_lr(optimiser: torch.optim.Optimizer) -> None:
    """FuxiCTR's plateau rule: a validation epoch that does not improve divides the learning rate by 10."""
    for group in optimiser.param_groups:
        group["lr"] = max(group["lr"] * LR_FACTOR, MIN_LR)


def batch_loss(model: ZooModel, logits: torch.Tensor, labels: torch.Tensor,
               objective: RankingLossConfig) -> dict[str, torch.Tensor]:
    """``{"loss": objective + λ·½‖E‖², "bce": unweighted BCE}``; plain BCE is ``model.loss`` itself."""
    if objective.is_plain_bce:
        return model.loss(logits, labels)
    total = ctr_loss(logits, labels, objective)
    if model.config.embedding_regularizer:
        total = total + model.config.embedding_regularizer * model.features.regularization()
    return {"loss": total, "bce": F.binary_cross_entropy_with_logits(click_logit(logits), labels)}


def train_fields(model: ZooModel, train: dict[str, torch.Tensor], valid: dict[str, torch.Tensor],
                 config: FieldTrainConfig) -> FieldTrainResult:
    """Fit ``model`` in place (best validation epoch restored); the caller seeds before building the model."""
    if config.threads:
        torch.set_num_threads(config.threads)
    objective = config.objective()
    seed_all(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    inputs, labels = _split(model, train)
    n = labels.shape[0]
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    sign = 1.0 if config.monitor == "AUC" else -1.0
    stopper = EarlyStopping(config.patience, min_delta=MIN_DELTA)
    best_state, history, step_seconds = None, [], 0.0
    started = time.perf_counter()
    for epoch in range(config.max_epochs):
        model.train()
        order = torch.randperm(n, generator=generator)
        losses = []
        tick = time.perf_counter()
        for start in range(0, n, config.batch_size):
            idx = order[start:start + config.batch_size]
            batch = {k: v[idx] for k, v in inputs.items()}
            loss = batch_loss(model, model(batch), labels[idx], objective)
            optimiser.zero_grad(set_to_none=True)
            loss["loss"].backward()
            if config.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimiser.step()
            losses.append(loss["bce"].detach())
        step_seconds += time.perf_counter() - tick
        metrics = evaluate(model, valid, config.eval_batch_size)
        lr = optimiser.param_groups[0]["lr"]
        history.append({"epoch": epoch, "train_bce": float(torch.stack(losses).mean()), "lr": lr, **metrics})
        log.info("epoch %d: train BCE %.4f, valid AUC %.4f, LogLoss %.4f (lr %.0e)", epoch, history[-1]["train_bce"],
                 metrics["AUC"] or float("nan"), metrics["LogLoss"], lr)
        if stopper.step(sign * metrics[config.monitor], epoch):
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
    kept = history[best_epoch]
    return FieldTrainResult(best_epoch, {"AUC": kept["AUC"], "LogLoss": kept["LogLoss"]}, len(history),
                            history, fit_seconds, step_seconds, len(history) * n / fit_seconds)

"""Training loop for CTR models: AdamW (lazy and row-sparse for tables of >= ``sparse_min_rows`` rows), early
stopping on validation AUC, resumable checkpoints, seeded.

The best epoch's weights (by validation AUC) are restored at the end; test data is never looked at here.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from mmrec.data.ctr_batches import CTRSamples
from mmrec.eval.ctr_metrics import auc
from mmrec.models.ctr.base import CTRModel
from mmrec.train.common import Checkpointer, EarlyStopping
from mmrec.train.lazy_adam import LazyAdamW, use_sparse_embeddings

log = logging.getLogger("mmrec")


@dataclasses.dataclass
class CTRTrainSettings:
    batch_size: int = 1024
    eval_batch_size: int = 4096
    lr: float = 1e-3
    weight_decay: float = 1e-4
    max_epochs: int = 5
    patience: int = 1
    seed: int = 0
    progress: bool = True
    sparse_min_rows: int | None = 100_000  # tables this large: row-sparse gradients, lazy AdamW (None: all dense)


@dataclasses.dataclass
class CTRTrainResult:
    best_epoch: int
    best_valid_auc: float
    epochs: list[dict]  # per epoch: mean training losses and validation AUC
    train_seconds: float


@torch.no_grad()
def predict(model: CTRModel, samples: CTRSamples, batch_size: int = 4096) -> np.ndarray:
    """Click probabilities for every sample, in order (eval mode, deterministic)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    probs = [model.predict(b.to(device)).cpu() for b in samples.batches(batch_size)]
    model.train(was_training)
    return torch.cat(probs).numpy() if probs else np.zeros(0, dtype=np.float32)


def train_ctr(model: CTRModel, train: CTRSamples, valid: CTRSamples, settings: CTRTrainSettings,
              checkpoint_dir: str | Path | None = None) -> CTRTrainResult:
    """Train ``model`` in place; resumes from ``checkpoint_dir/last`` if present; ends on the best epoch."""
    device = next(model.parameters()).device
    if use_sparse_embeddings(model, settings.sparse_min_rows):  # large tables: a step costs the rows it touched
        optimizer = LazyAdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    checkpoints = Checkpointer(checkpoint_dir) if checkpoint_dir is not None else None
    stopper, epochs, start_epoch, elapsed = EarlyStopping(patience=settings.patience), [], 0, 0.0
    loop = checkpoints.restore(model, optimizer) if checkpoints else None
    if loop is not None:
        stopper = EarlyStopping(**loop["stopper"])
        epochs, start_epoch, elapsed = loop["epochs"], loop["epoch"] + 1, loop["train_seconds"]
    valid_labels = valid.label.numpy()
    for epoch in range(start_epoch, settings.max_epochs):
        if stopper.should_stop:
            break
        start = time.perf_counter()
        model.train()
        generator = torch.Generator().manual_seed(settings.seed * 1_000_003 + epoch)
        sums: dict[str, float] = {}
        n_batches = (len(train) + settings.batch_size - 1) // settings.batch_size
        bar = tqdm(train.batches(settings.batch_size, shuffle=True, generator=generator), total=n_batches,
                   desc=f"{type(model).__name__} epoch {epoch}", leave=False,
                   disable=True if not settings.progress else None)  # None: a bar on a terminal only
        for batch in bar:
            batch = batch.to(device)
            losses = model.loss(model(batch), batch.label)
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            optimizer.step()
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            bar.set_postfix(loss=f"{float(losses['loss'].detach()):.4f}")
        elapsed += time.perf_counter() - start
        valid_auc = auc(valid_labels, predict(model, valid, settings.eval_batch_size)) or 0.5
        epochs.append({"epoch": epoch, **{k: v / n_batches for k, v in sums.items()}, "valid_auc": valid_auc})
        improved = stopper.step(valid_auc, epoch)
        if bar.disable:  # a log file: one line per epoch instead of the bar's updates
            log.info("%s epoch %d/%d: loss %.4f, valid AUC %.4f (best %.4f)", type(model).__name__, epoch + 1,
                     settings.max_epochs, sums.get("loss", 0.0) / max(n_batches, 1), valid_auc, stopper.best)
        if checkpoints:
            checkpoints.save(model, optimizer, {"epoch": epoch, "epochs": epochs, "train_seconds": elapsed,
                                                "stopper": dataclasses.asdict(stopper)}, best=improved)
        elif improved:
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if checkpoints:
        checkpoints.load_best(model)
    elif stopper.best_epoch >= 0:
        model.load_state_dict(best_state)
    return CTRTrainResult(stopper.best_epoch, stopper.best, epochs, elapsed)

"""The recipe's ``train`` section: the sequential models to train and the optimisation settings they share."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from mmrec.core.config import ConfigError
from mmrec.core.precision import Precision


@dataclasses.dataclass
class TrainConfig:
    """Sequential models to train and evaluate on each sequential split, for every seed in ``seeds``.

    ``models`` maps a catalogue name (``mmrec.catalogue``) to its hyper-parameters; omitted keys
    take the model config's defaults. The optimisation settings below apply to every trainable model.
    """

    models: dict[str, Any] = dataclasses.field(default_factory=dict)  # none unless the recipe names them
    splits: list[Literal["leave-one-out", "new-items"]] = dataclasses.field(
        default_factory=lambda: ["leave-one-out", "new-items"])
    epochs: int = 100
    batch_size: int = 128
    lr: float = 1e-3
    # the learning rate over training: "constant", or "linear" / "cosine" decay from lr to 0 at the last of
    # ``epochs``; any of the three after ``warmup_epochs`` of linear warm-up from 0 (fractions of an epoch allowed)
    lr_schedule: Literal["constant", "linear", "cosine"] = "constant"
    warmup_epochs: float = 0.0
    weight_decay: float = 0.0
    patience: int = 10  # epochs without a better validation NDCG@10 before stopping
    loss: Literal["ce", "bce"] = "ce"  # full-softmax cross-entropy over all items, or BCE with sampled negatives
    n_negatives: int = 1  # per position, for loss = bce
    softmax_over: Literal["all", "seen"] = "all"  # loss = ce: every item, or only items in the training sequences
    window_stride: int | None = None  # step between a sequence's training windows; None = the model's max_len
    # forward and loss in bf16 autocast (mmrec.core.precision), validation scoring too: on a Xeon with AMX the
    # SASRec step is 1.3x faster (benchmarks/bench_sasrec_step.py); fp32 weights and optimizer either way
    precision: Precision = "fp32"
    progress: bool = True
    # train_seq's (split, model, seed) and align / pad's (split, seed) cells trained at once, each in its own
    # process with an equal share of the torch threads; 1 = one after another in this process. Measured on the
    # 2-core demo, 2 workers vs 1: train_seq 216 vs 250 s, pad 80 vs 100 s, align 58 vs 52 s (two unequal cells);
    # each worker holds its own copy of the split.
    workers: int = 1

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError("train.epochs and train.batch_size must be >= 1 and train.lr > 0")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ConfigError(f"train.warmup_epochs must be in [0, train.epochs = {self.epochs}), "
                              f"got {self.warmup_epochs}")
        if self.workers < 1:
            raise ConfigError(f"train.workers must be >= 1, got {self.workers}")

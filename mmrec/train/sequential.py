"""Train a sequential backbone on next-item prediction, every position of every training sequence a target.

Each user's training sequence is cut once, up front, into windows of ``max_len + 1`` items (input = the first
``max_len``, target = the same shifted by one), pre-padded into one tensor; an epoch is a seeded permutation of
those rows, so no Python runs per sample. Early stopping on validation NDCG@10, a resumable checkpoint every
epoch, test-time weights = the best validation epoch.

Multi-process (``torchrun``, see ``mmrec.train.distributed``): ``rank`` / ``world_size`` (default: the process
group's) shard each epoch's permutation, each rank takes ``batch_size / world_size`` rows per step so the global
batch is the single-process one, the loss is weighted so DDP's gradient average equals the global batch's mean,
and only rank 0 writes checkpoints (the others wait at a barrier).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from mmrec.train.config import TrainConfig
from mmrec.eval.config import EvalConfig
from mmrec.eval.metrics import RankingCases, metrics_from_ranks, rank_all
from mmrec.models.base import SequentialRecommender
from mmrec.core.precision import autocast
from mmrec.core.sequences import gather_left_padded
from mmrec.train import distributed
from mmrec.train.common import Checkpointer, EarlyStopping, seed_everything
from mmrec.train.losses import full_softmax_ce, sampled_bce

log = logging.getLogger("mmrec")


@dataclasses.dataclass
class EpochLog:
    epoch: int
    loss: float
    valid_ndcg10: float
    train_seconds: float  # this epoch's optimisation time
    eval_seconds: float
    wall_seconds: float  # since fit() started (this process), training + validation


def training_windows(train: list[np.ndarray], max_len: int, stride: int | None = None) -> torch.Tensor:
    """(W, max_len + 1) left-padded windows ending at each sequence's end, then every ``stride`` items earlier."""
    stride = stride or max_len
    lengths = np.fromiter((len(s) for s in train), dtype=np.int64, count=len(train))
    per_user = np.where(lengths >= 2, -(-(lengths - 1) // stride), 0)  # ceil((n - 1) / stride) windows
    user = np.repeat(np.arange(len(train)), per_user)
    j = np.arange(per_user.sum()) - np.repeat(np.cumsum(per_user) - per_user, per_user)  # window index in user
    flat = np.concatenate([np.zeros(1, np.int64), *[np.asarray(s, dtype=np.int64) for s in train]])
    starts = 1 + np.cumsum(lengths) - lengths
    return gather_left_padded(flat, starts[user], starts[user] + lengths[user] - j * stride, max_len + 1)


def window_targets(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-item targets of windows; a target whose input is padding (a sequence's first item) is 0."""
    inputs = rows[:, :-1]
    return inputs, rows[:, 1:] * (inputs > 0)


def learning_rate(optim: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """``optim.lr_schedule``'s learning rate at optimizer step ``step`` (0-based): a function of the step alone, so a
    resumed run continues the schedule without saving it."""
    total = optim.epochs * steps_per_epoch
    warmup = round(optim.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return optim.lr * (step + 1) / warmup
    if optim.lr_schedule == "constant":
        return optim.lr
    progress = (step - warmup) / max(total - warmup, 1)
    if optim.lr_schedule == "linear":
        return optim.lr * (1.0 - progress)
    return optim.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


class SequentialTrainer:
    """Fits one backbone on one split: ``SequentialTrainer(model, split.train, valid_cases, cfg.train, seed).fit()``."""

    def __init__(self, model: SequentialRecommender, train: list[np.ndarray], valid: RankingCases,
                 optim: TrainConfig, seed: int = 0, eval_batch_size: int = EvalConfig.batch_size,
                 checkpoint_dir: str | Path | None = None,
                 rank: int | None = None, world_size: int | None = None, device: torch.device | None = None,
                 stop_at: float | None = None):
        self.model, self.optim, self.seed, self.eval_batch_size = model, optim, seed, eval_batch_size
        group = distributed.context()
        self.rank = group.rank if rank is None else rank
        self.world_size = group.world_size if world_size is None else world_size
        self.device = device or torch.device("cpu")
        self.windows = training_windows(train, model.max_len, optim.window_stride)
        self.exclude = None
        if optim.softmax_over == "seen":  # items absent from training do not exist yet: never negatives
            seen = np.zeros(model.n_items + 1, dtype=bool)
            nonempty = [s for s in train if len(s)]
            if nonempty:
                seen[np.concatenate(nonempty)] = True
            self.exclude = torch.from_numpy(~seen)
        self.valid = valid.with_max_len(model.max_len)
        self.checkpointer = Checkpointer(checkpoint_dir) if checkpoint_dir is not None else None
        self.stop_at = stop_at  # also stop once validation NDCG@10 reaches this (time-to-quality benchmarks)
        self.history: list[EpochLog] = []

    def _wrap(self, model: SequentialRecommender) -> torch.nn.Module:
        """The one place a distributed wrapper goes: DistributedDataParallel in a multi-process run."""
        return distributed.wrap(model, self.device)

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        """This rank's rows for ``epoch``: a permutation seeded by (seed, epoch), so resuming replays it."""
        gen = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        return torch.randperm(len(self.windows), generator=gen)[self.rank::self.world_size]

    def validate(self) -> float:
        ranks = rank_all(self.model.scorer(self.optim.precision), self.valid, self.eval_batch_size, device=self.device)
        return metrics_from_ranks(ranks, [10])["NDCG@10"]

    def fit(self) -> EarlyStopping:
        """Train until ``epochs`` or early stopping; leaves the best-validation weights in the model."""
        seed_everything(self.seed)
        model = self.model.to(self.device)
        net = self._wrap(model)
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.optim.lr, weight_decay=self.optim.weight_decay)
        early = EarlyStopping(self.optim.patience)
        start_epoch, best_state = 0, None
        loop = self.checkpointer.restore(model, optimizer) if self.checkpointer else None
        if loop is not None:
            start_epoch = loop["epoch"] + 1
            early = EarlyStopping(**loop["early"])
            self.history = [EpochLog(**e) for e in loop["history"]]
        t0 = time.perf_counter() - (self.history[-1].wall_seconds if self.history else 0.0)
        per_rank = distributed.per_rank_batch(self.optim.batch_size, self.world_size)
        n_batches = math.ceil(len(self.windows) / self.optim.batch_size)  # the same on every rank
        name = type(model).__name__.lower()
        # disable=None: a bar on a terminal only; a log file gets the one line per epoch below instead
        bar = tqdm(range(start_epoch, self.optim.epochs), desc=name, unit="epoch", leave=False, initial=start_epoch,
                   disable=True if not self.optim.progress or self.rank != 0 else None, total=self.optim.epochs)
        for epoch in bar:
            if early.should_stop:
                break
            tick = time.perf_counter()
            net.train()
            order, total = self._epoch_order(epoch), 0.0
            for b in range(n_batches):
                rows = self.windows[order[b * per_rank:(b + 1) * per_rank]].to(self.device)
                inputs, targets = window_targets(rows)
                with autocast(self.optim.precision, self.device):
                    states = net(inputs)
                    count = (targets > 0).sum()
                    if count == 0:  # this rank's share of a short last batch is empty: contribute zero gradient
                        loss = states.sum() * 0.0
                    elif self.optim.loss == "ce":
                        loss = full_softmax_ce(states, targets, model.item_repr, self.exclude)
                    else:
                        loss = sampled_bce(states, targets, model.item_repr, self.optim.n_negatives)
                if self.world_size > 1:  # DDP averages gradients: weight by this rank's share of the batch's targets
                    loss = loss * (count * self.world_size / distributed.all_reduce_sum(count))
                aux = model.auxiliary_loss(rows)
                if aux is not None:
                    loss = loss + aux
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(self.optim, epoch * n_batches + b, n_batches)
                optimizer.step()
                total += loss.item()
            if self.world_size > 1:  # the logged loss is the global batch's mean, as in one process
                total = distributed.all_reduce_sum(torch.tensor(total, dtype=torch.float64)).item() / self.world_size
            train_s = time.perf_counter() - tick
            tick = time.perf_counter()
            model.eval()
            ndcg = self.validate()
            improved = early.step(ndcg, epoch)
            if improved and self.checkpointer is None:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            self.history.append(EpochLog(epoch, total / max(n_batches, 1), ndcg, train_s,
                                         time.perf_counter() - tick, time.perf_counter() - t0))
            ranks_rng = distributed.gather_rng_states() if self.checkpointer is not None else {}
            if self.checkpointer is not None and self.rank == 0:
                self.checkpointer.save(model, optimizer, {"epoch": epoch, "early": dataclasses.asdict(early),
                                                          "history": [dataclasses.asdict(h) for h in self.history]},
                                       best=improved, ranks_rng=ranks_rng)
            distributed.barrier()  # nobody reads a checkpoint rank 0 is still writing
            if self.stop_at is not None and ndcg >= self.stop_at:
                break
            bar.set_postfix(loss=f"{total / max(n_batches, 1):.3f}", ndcg10=f"{ndcg:.4f}", best=f"{early.best:.4f}")
            if bar.disable and self.rank == 0:
                log.info("%s epoch %d/%d: loss %.4f, valid NDCG@10 %.4f (best %.4f)", name, epoch + 1,
                         self.optim.epochs, total / max(n_batches, 1), ndcg, early.best)
        bar.close()
        if self.checkpointer is not None:
            self.checkpointer.load_best(model)
        elif best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        return early

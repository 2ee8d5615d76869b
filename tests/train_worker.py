"""A tiny, seeded SASRec training run as a script: what the DDP and kill-and-resume tests launch as subprocesses.

``python tests/train_worker.py OUT [--epochs N] ...`` trains on synthetic sequences (users walk the item ring
with seeded noise, so there is something to learn) and writes ``OUT/history.json`` plus the final weights
``OUT/model.safetensors`` from rank 0. Under ``torchrun`` every rank trains its shard through DDP.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from mmrec.eval.metrics import RankingCases
from mmrec.models.sasrec import SASRec, SASRecConfig
from mmrec.train import distributed
from mmrec.train.common import seed_everything
from mmrec.train.config import TrainConfig
from mmrec.train.sequential import SequentialTrainer


def synthetic_sequences(n_users: int, n_items: int, seed: int = 0) -> list[np.ndarray]:
    """Entry 0 empty; user u walks forward on the item ring from a random start, sometimes jumping."""
    rng = np.random.default_rng(seed)
    seqs = [np.zeros(0, dtype=np.int64)]
    for _ in range(n_users):
        length = int(rng.integers(5, 20))
        steps = np.where(rng.random(length) < 0.8, 1, rng.integers(2, n_items, length))
        seqs.append((int(rng.integers(0, n_items)) + np.cumsum(steps)) % n_items + 1)
    return seqs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--checkpoint", type=Path)
    args = parser.parse_args()
    group = distributed.init_from_env()
    seqs = synthetic_sequences(args.users, args.items)
    train = [s[:-1] for s in seqs]
    valid = RankingCases.build([s[:-1] for s in seqs[1:]], np.array([s[-1] for s in seqs[1:]]), max_len=None)
    seed_everything(0)
    model = SASRec(SASRecConfig(n_items=args.items, dim=16, n_layers=1, n_heads=2, max_len=10, dropout=args.dropout))
    optim = TrainConfig(models={}, epochs=args.epochs, batch_size=args.batch_size, lr=5e-3, patience=1000,
                        progress=False)
    trainer = SequentialTrainer(model, train, valid, optim, seed=0, checkpoint_dir=args.checkpoint)
    trainer.fit()
    if group.is_main:
        args.out.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(args.out / "model.safetensors"))
        (args.out / "history.json").write_text(json.dumps([dataclasses.asdict(h) for h in trainer.history]))
    distributed.barrier()


if __name__ == "__main__":
    main()

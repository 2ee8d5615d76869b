"""PAD's training steps on one sequential split: align (the tower), then fine-tune the triple experts.

Both train with the shared ``SequentialTrainer`` (early stopping on validation NDCG@10), so PAD's numbers and the
baselines' come from the same loop and the same evaluation. The anchor (the ID-only backbone ``train_seq``
trained) is read only: its parameters are bit-identical before and after.
"""

from __future__ import annotations

import dataclasses

import torch

from mmrec.data.splits import SequentialSplit, selection_split
from mmrec.eval.evaluate import ranking_cases
from mmrec.models.base import SequentialRecommender
from mmrec.pad.config import PADConfig
from mmrec.pad.model import PAD
from mmrec.pad.tower import AlignedTower
from mmrec.train.common import seed_everything
from mmrec.train.config import TrainConfig
from mmrec.train.sequential import SequentialTrainer


def fit(model: SequentialRecommender, split: SequentialSplit, optim: TrainConfig, seed: int
        ) -> SequentialRecommender:
    """Train with the shared trainer, selecting on the split's validation cases (on a warm hold-out when the model
    cannot score never-seen items and every validation target is one: ``selection_split``); returns the best model."""
    selection = selection_split(split, model.scores_unseen_items)
    SequentialTrainer(model, selection.train, ranking_cases(selection, "valid"), optim, seed=seed).fit()
    return model


def align(anchor: SequentialRecommender, content: torch.Tensor, split: SequentialSplit, config: PADConfig,
          optim: TrainConfig, seed: int) -> AlignedTower:
    """Copy the anchor's ID table and encoder, then train the aligned tower with L_rec + λ MK-MMD."""
    seed_everything(seed)
    tower = AlignedTower.from_anchor(anchor, content, selection_split(split, False).item_train_counts(), config)
    return fit(tower, split, dataclasses.replace(optim, lr=config.align_lr, epochs=config.align_epochs), seed)


def train_pad(anchor: SequentialRecommender, tower: AlignedTower, content: torch.Tensor, split: SequentialSplit,
              config: PADConfig, optim: TrainConfig, seed: int) -> PAD:
    """Build the triple experts from the anchor and the tower, and fine-tune everything with the rec. loss."""
    seed_everything(seed)
    model = PAD.from_anchor(anchor, tower, content, split.item_train_counts(), config)
    return fit(model, split, dataclasses.replace(optim, lr=config.finetune_lr, epochs=config.finetune_epochs), seed)

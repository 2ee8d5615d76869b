"""PAD end to end on one sequential split: pre-train (ID backbone) -> align -> disentangle (triple experts).

Each step trains with the shared ``SequentialTrainer`` (early stopping on validation NDCG@10), so PAD's
numbers and the baselines' come from the same loop and the same evaluation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from mmrec.config import PADSection, TrainConfig
from mmrec.data.splits import SequentialSplit
from mmrec.eval.evaluate import ranking_cases
from mmrec.models.aligned_tower import AlignedTower, AlignedTowerConfig
from mmrec.models.base import SequentialRecommender
from mmrec.models.experts import ExpertConfig, backbone
from mmrec.models.pad import PAD, PADConfig, never_seen_mask
from mmrec.train.common import seed_everything
from mmrec.train.sequential import SequentialTrainer


def copy_encoder(source: SequentialRecommender, target: SequentialRecommender) -> SequentialRecommender:
    """Load ``source``'s sequence-encoder weights (everything but its item representation) into ``target``."""
    state = {k: v.detach().clone() for k, v in source.state_dict().items() if not k.startswith("item_repr.")}
    missing, unexpected = target.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("item_repr.") for k in missing):
        raise ValueError(f"encoders differ: missing {missing}, unexpected {unexpected}")
    return target


def set_tensors(module: nn.Module, values: dict[str, torch.Tensor]) -> None:
    """Copy ``values`` into ``module``'s parameters / buffers of the same names and shapes."""
    state = module.state_dict()
    for key, value in values.items():
        if key not in state or state[key].shape != value.shape:
            raise ValueError(f"{type(module).__name__}: tensor '{key}' is "
                             f"{list(state[key].shape) if key in state else 'absent'}, got {list(value.shape)}")
    with torch.no_grad():
        for key, value in values.items():
            state[key].copy_(value)


def fit(model: SequentialRecommender, split: SequentialSplit, optim: TrainConfig, seed: int
        ) -> SequentialRecommender:
    """Train with the shared trainer, selecting on the split's validation cases; returns the best model."""
    SequentialTrainer(model, split.train, ranking_cases(split, "valid"), optim, seed=seed).fit()
    return model


def pretrain(name: str, config: Any, split: SequentialSplit, optim: TrainConfig, seed: int) -> SequentialRecommender:
    """The ID-only backbone (the SASRec / GRU4Rec baseline row, and PAD's anchor)."""
    seed_everything(seed)
    return fit(backbone(name, config, split.n_items), split, optim, seed)


def expert_config(name: str, config: Any, content: torch.Tensor, settings: PADSection) -> ExpertConfig:
    """The experts' architecture: the backbone ``name`` with ``config``, a projector from the content's width."""
    return ExpertConfig.of(name, config, content.shape[1], settings.projector_layers, settings.projector_dropout)


def build_tower(anchor: SequentialRecommender, name: str, config: Any, content: torch.Tensor,
                split: SequentialSplit, settings: PADSection) -> AlignedTower:
    """An untrained aligned tower: copies of the anchor's ID table and encoder, a fresh projector and fusion."""
    tower_config = AlignedTowerConfig(expert_config(name, config, content, settings), settings.mmd_weight,
                                      settings.cold_dropout)
    tower = AlignedTower(tower_config, never_seen_mask(split.item_train_counts()))
    copy_encoder(anchor, tower.backbone)
    set_tensors(tower.backbone, {"item_repr.aligned.ids.weight": anchor.item_repr.all_items().detach(),
                                 "item_repr.aligned.content.content": content})
    return tower


def align(anchor: SequentialRecommender, name: str, config: Any, content: torch.Tensor, split: SequentialSplit,
          settings: PADSection, optim: TrainConfig, seed: int) -> AlignedTower:
    """Copy the anchor's ID table and encoder, then train the aligned tower with L_rec + λ MK-MMD.

    The anchor is read only: its parameters are bit-identical before and after.
    """
    seed_everything(seed)
    tower = build_tower(anchor, name, config, content, split, settings)
    return fit(tower, split, dataclasses.replace(optim, lr=settings.align_lr, epochs=settings.align_epochs), seed)


def tower_key(settings: PADSection) -> str:
    """Names an aligned tower by what shapes it; PAD rows with the same key share one tower."""
    return (f"{'+'.join(settings.content)}-mmd{settings.mmd_weight:g}-p{settings.projector_layers}"
            f"x{settings.projector_dropout:g}-cd{settings.cold_dropout:g}-lr{settings.align_lr:g}-e{settings.align_epochs}")


def build_pad(anchor: SequentialRecommender, tower: AlignedTower, name: str, config: Any, content: torch.Tensor,
              split: SequentialSplit, settings: PADSection) -> PAD:
    """Triple experts: ID (anchor copy), aligned (tower copy), content (fresh projector + fresh encoder)."""
    cfg = PADConfig(expert_config(name, config, content, settings), n_bins=settings.n_bins, gate=settings.gate,
                    cold_dropout=settings.cold_dropout)
    pad = PAD(cfg, split.item_train_counts())
    id_expert, aligned_expert, content_expert = pad.experts
    id_expert.load_state_dict(anchor.state_dict())  # same keys: the ID table and the encoder
    aligned_expert.load_state_dict(tower.backbone.state_dict())
    set_tensors(content_expert, {"item_repr.content.content": content})
    return pad


def train_pad(anchor: SequentialRecommender, tower: AlignedTower, name: str, config: Any, content: torch.Tensor,
              split: SequentialSplit, settings: PADSection, optim: TrainConfig, seed: int) -> PAD:
    """Build the triple experts and fine-tune everything with the recommendation loss."""
    seed_everything(seed)
    model = build_pad(anchor, tower, name, config, content, split, settings)
    return fit(model, split, dataclasses.replace(optim, lr=settings.finetune_lr, epochs=settings.finetune_epochs),
               seed)


ABLATIONS: dict[str, dict[str, Any]] = {
    "no_mmd": {"mmd_weight": 0.0},
    "uniform_gate": {"gate": "uniform"},
    "user_gate": {"gate": "user"},
    "text": {"content": ["text"]},
    "image": {"content": ["image"]},
    "llm": {"content": ["llm"]},
    "concat": {"content": ["text", "image", "llm"]},
}


def variants(settings: PADSection) -> dict[str, PADSection]:
    """Report rows: ``pad`` with the recipe's settings, plus ``pad_<ablation>`` changing one setting each."""
    rows = {"pad": settings}
    for name in settings.ablations:
        rows[f"pad_{name}"] = dataclasses.replace(settings, ablations=[], **ABLATIONS[name])
    return rows


def train_variants(anchor: SequentialRecommender, name: str, config: Any, split: SequentialSplit,
                   rows: dict[str, PADSection], content_of: Callable[[list[str]], torch.Tensor],
                   optim: TrainConfig, seed: int) -> Iterator[tuple[str, PAD]]:
    """Train each row's PAD on one anchor; rows that differ only after alignment share one aligned tower."""
    towers: dict[str, AlignedTower] = {}
    for row, settings in rows.items():
        content = content_of(settings.content)
        key = tower_key(settings)
        if key not in towers:
            towers[key] = align(anchor, name, config, content, split, settings, optim, seed)
        yield row, train_pad(anchor, towers[key], name, config, content, split, settings, optim, seed)

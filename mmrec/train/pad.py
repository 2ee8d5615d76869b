"""PAD end to end on one sequential split: pre-train (ID backbone) -> align -> disentangle (triple experts).

Each step trains with the shared ``SequentialTrainer`` (early stopping on validation NDCG@10), so PAD's
numbers and the baselines' come from the same loop and the same evaluation.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import torch

from alignment.align import ProjectorConfig
from mmrec.config import PADSection, TrainConfig
from mmrec.data.splits import SequentialSplit
from mmrec.eval.evaluate import ranking_cases
from mmrec.models.aligned_tower import AlignedTower
from mmrec.models.base import SequentialRecommender
from mmrec.models.content_items import AlignedContentItems, ColdIDItems, ProjectedContentItems
from mmrec.models.item_repr import ItemRepresentation
from mmrec.models.pad import PAD, PADConfig, never_seen_mask
from mmrec.models.registry import get_spec
from mmrec.train.common import seed_everything
from mmrec.train.sequential import SequentialTrainer


def backbone(name: str, config: Any, n_items: int, item_repr: ItemRepresentation | None = None
             ) -> SequentialRecommender:
    """A fresh backbone of the registered model ``name`` (e.g. sasrec, gru4rec) over ``item_repr``."""
    spec = get_spec(name)
    model = spec.model_class(dataclasses.replace(config, n_items=n_items), item_repr)
    if not isinstance(model, SequentialRecommender):
        raise TypeError(f"'{name}' is not a sequential backbone")
    return model


def copy_encoder(source: SequentialRecommender, target: SequentialRecommender) -> SequentialRecommender:
    """Load ``source``'s sequence-encoder weights (everything but its item representation) into ``target``."""
    state = {k: v.detach().clone() for k, v in source.state_dict().items() if not k.startswith("item_repr.")}
    missing, unexpected = target.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("item_repr.") for k in missing):
        raise ValueError(f"encoders differ: missing {missing}, unexpected {unexpected}")
    return target


def fit(model: SequentialRecommender, split: SequentialSplit, optim: TrainConfig, seed: int
        ) -> SequentialRecommender:
    """Train with the shared trainer, selecting on the split's validation cases; returns the best model."""
    SequentialTrainer(model, split.train, ranking_cases(split, "valid"), optim, seed=seed).fit()
    return model


def pretrain(name: str, config: Any, split: SequentialSplit, optim: TrainConfig, seed: int) -> SequentialRecommender:
    """The ID-only backbone (the SASRec / GRU4Rec baseline row, and PAD's anchor)."""
    seed_everything(seed)
    return fit(backbone(name, config, split.n_items), split, optim, seed)


def build_tower(anchor: SequentialRecommender, name: str, config: Any, content: torch.Tensor,
                split: SequentialSplit, settings: PADSection) -> AlignedTower:
    """An untrained aligned tower: copies of the anchor's ID table and encoder, a fresh projector and fusion."""
    table = anchor.item_repr.all_items().detach()
    projector = ProjectorConfig(content.shape[1], table.shape[1], settings.projector_layers, settings.projector_dropout)
    tower_backbone = copy_encoder(anchor, backbone(name, config, split.n_items,
                                                   AlignedContentItems(table, content, projector)))
    return AlignedTower(tower_backbone, never_seen_mask(split.item_train_counts()), settings.mmd_weight,
                        settings.cold_dropout)


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
    counts = split.item_train_counts()
    dim = anchor.item_repr.dim
    id_expert = copy_encoder(anchor, backbone(name, config, split.n_items,
                                              ColdIDItems(anchor.item_repr.all_items().detach())))
    aligned_expert = copy.deepcopy(tower.backbone)
    projector = ProjectorConfig(content.shape[1], dim, settings.projector_layers, settings.projector_dropout)
    content_expert = backbone(name, config, split.n_items, ProjectedContentItems(content, projector))
    cfg = PADConfig(n_bins=settings.n_bins, gate=settings.gate, cold_dropout=settings.cold_dropout)
    return PAD(cfg, [id_expert, aligned_expert, content_expert], counts)


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

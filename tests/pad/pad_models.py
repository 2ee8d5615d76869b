"""Tiny PAD building blocks shared by the PAD tests: backbone configs and the synthetic catalogue size."""

import dataclasses

from mmrec.models.gru4rec import GRU4RecConfig
from mmrec.models.sasrec import SASRecConfig
from mmrec.pad.experts import BACKBONES
from mmrec.pad.model import PAD
from mmrec.pad.tower import AlignedTower
from mmrec.pad.train import fit
from mmrec.train.common import seed_everything

N_ITEMS = 40  # items N_ITEMS - 4 .. N_ITEMS never occur in the synthetic split: never seen


def backbone_config(kind):
    if kind == "sasrec":
        return SASRecConfig(dim=16, n_layers=1, n_heads=2, max_len=10, dropout=0.1)
    return GRU4RecConfig(dim=16, hidden=16, max_len=10, dropout=0.1)


def new_backbone(kind, cfg):
    """A fresh (untrained) ID backbone, as train_seq builds PAD's anchor."""
    return BACKBONES[kind](dataclasses.replace(cfg, n_items=N_ITEMS))


def build_tower(anchor, kind, content, split, settings):
    return AlignedTower.from_anchor(anchor, content, split.item_train_counts(), dataclasses.replace(settings, backbone=kind))


def build_pad(anchor, tower, kind, content, split, settings):
    return PAD.from_anchor(anchor, tower, content, split.item_train_counts(), dataclasses.replace(settings, backbone=kind))


def pretrain(kind, cfg, split, optim, seed):
    """The ID-only anchor, trained as train_seq trains it."""
    seed_everything(seed)
    return fit(new_backbone(kind, cfg), split, optim, seed)

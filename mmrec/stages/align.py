"""``align``: PAD's recommendation-anchored alignment on each sequential split, for every seed.

The anchor is the backbone ``train_seq`` trained for the same split and seed (frozen, read only). For every
distinct alignment that the ``pad`` rows need (content source, λ, projector), a tower (copies of the anchor's
ID table and encoder, a content projector, the fusion W) is trained with L_rec + λ · MK-MMD and saved with
``save_pretrained`` under ``towers/<split>/<tower_key>/seed<seed>/``. Item content comes from the ``encode``
artifact (or ``pad.content_dir`` in the same ``<modality>.safetensors`` layout); ``pad.enabled: false`` skips PAD.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from mmrec.config import ConfigError, RecipeConfig
from mmrec.data.content import load_content
from mmrec.data.splits import SequentialSplit
from mmrec.io import fingerprint_tree, write_json
from mmrec.models.base import SequentialRecommender
from mmrec.models.registry import get_spec
from mmrec.pipeline import Stage, StageContext
from mmrec.stages.prepare import load_prepared
from mmrec.train.pad import align, tower_key, variants

log = logging.getLogger("mmrec")


def load_anchor(cfg: RecipeConfig, train_seq: Path, split_name: str, n_items: int, seed: int
                ) -> SequentialRecommender:
    """The backbone ``train_seq`` trained on this split with this seed (its Hub folder), in eval mode."""
    name = cfg.pad.backbone
    folder = train_seq / "models" / split_name / name / f"seed{seed}"
    if name not in cfg.train.models or not folder.is_dir():
        raise ConfigError(f"pad.backbone '{name}' must be one of train.models (it is PAD's anchor); "
                          f"no saved model at {folder}")
    model = get_spec(name).model_class.from_pretrained(folder)
    if model.n_items != n_items:
        raise ConfigError(f"{folder}: the anchor scores {model.n_items} items, split '{split_name}' has {n_items}")
    return model


class ContentCache:
    """Content matrices of one split's catalogue, loaded once per modality combination."""

    def __init__(self, directory: str, n_items: int):
        self.directory, self.n_items = directory, n_items
        self._cache: dict[tuple[str, ...], torch.Tensor] = {}

    def __call__(self, modalities: list[str]) -> torch.Tensor:
        key = tuple(modalities)
        if key not in self._cache:
            self._cache[key] = load_content(self.directory, list(key), self.n_items)
        return self._cache[key]


def sequential_splits(cfg: RecipeConfig, prepare: Path) -> dict[str, SequentialSplit]:
    _, splits = load_prepared(prepare)
    return {name: splits[name] for name in cfg.train.splits if name in splits}  # type: ignore[misc]


def run(ctx: StageContext) -> None:
    cfg = ctx.cfg
    if not cfg.pad.enabled:
        write_json(ctx.out / "towers.json", {})
        return
    towers = {tower_key(s): s for s in variants(cfg.pad).values()}
    name = cfg.pad.backbone
    for split_name, split in sequential_splits(cfg, ctx.inputs["prepare"]).items():
        content = ContentCache(content_dir(ctx), split.n_items)
        for seed in cfg.seeds:
            anchor = load_anchor(cfg, ctx.inputs["train_seq"], split_name, split.n_items, seed)
            for key, settings in towers.items():
                tower = align(anchor, name, cfg.train.models[name], content(settings.content), split, settings,
                              cfg.train, seed)
                tower.save_pretrained(ctx.out / "towers" / split_name / key / f"seed{seed}")
    write_json(ctx.out / "towers.json", {"towers": sorted(towers), "splits": list(sequential_splits(
        cfg, ctx.inputs["prepare"])), "seeds": cfg.seeds})


def content_dir(ctx: StageContext) -> Path:
    """Item embeddings: the encode stage's artifact, unless ``pad.content_dir`` names another folder."""
    return Path(ctx.cfg.pad.content_dir) if ctx.cfg.pad.content_dir else ctx.inputs["encode"]


def content_fingerprint(cfg: RecipeConfig) -> str:
    return fingerprint_tree(Path(cfg.pad.content_dir)) if cfg.pad.content_dir else ""


STAGE = Stage(name="align", run=run, needs=("prepare", "encode", "train_seq"), sections=("seeds", "train", "pad"),
              version="2", fingerprint=content_fingerprint)

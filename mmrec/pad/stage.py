"""PAD's two pipeline stages on each sequential split, for every seed: ``align`` then ``pad``.

``align``: the anchor is the backbone ``train_seq`` trained for the same split and seed (frozen, read only). For
every distinct alignment the report's PAD rows need (content source, λ, projector; :meth:`PADConfig.tower_key`), a
tower is trained with L_rec + λ · MK-MMD and saved under ``towers/<split>/<tower_key>/seed<seed>/``.

``pad``: per (split, seed, row), the ID expert (an anchor copy), the aligned expert (the row's tower) and a fresh
content expert (over ``pad.content_expert``, e.g. TF-IDF), mixed by the frequency gate and fine-tuned with the
recommendation loss, once per ``pad.cold_dropout_search`` value (the best on validation kept); tested once with the
best-validation weights, saved under ``models/<split>/<row>/seed<seed>/``. Rows are ``pad`` and its catalogue
variants ``pad_<ablation>`` for each of ``pad.ablations``, summarised across seeds like every other report row.

Item content comes from the ``encode`` artifact (or ``pad.content_dir`` in the same ``<modality>.safetensors``
layout); ``pad.enabled: false`` skips both stages. Each (split, seed) is one cell; with ``train.workers`` > 1 the
cells of a stage run in that many worker processes (:mod:`mmrec.core.parallel`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from mmrec import catalogue
from mmrec.core.config import ConfigError
from mmrec.core.io import fingerprint_tree, write_json
from mmrec.core.parallel import run_in_workers
from mmrec.data.prepared import load_prepared
from mmrec.data.splits import SequentialSplit
from mmrec.eval.evaluate import evaluate, ranking_cases
from mmrec.eval.summary import summarise
from mmrec.models.base import SequentialRecommender
from mmrec.pad.config import PADConfig
from mmrec.pad.content import ContentCache
from mmrec.pad.model import PAD
from mmrec.pad.tower import AlignedTower
from mmrec.pipeline import Stage, StageContext
from mmrec.recipe import RecipeConfig
from mmrec.train import distributed


def rows(config: PADConfig) -> dict[str, PADConfig]:
    """Report rows: ``pad`` with the recipe's settings, plus ``pad_<ablation>`` (catalogue variants) for each of
    ``pad.ablations``, each changing one setting."""
    spec = catalogue.lookup("pad")
    out = {"pad": config}
    for name in config.ablations:
        out[f"pad_{name}"] = dataclasses.replace(config, ablations=[], **spec.variants[f"pad_{name}"].overrides)
    return out


def load_anchor(cfg: RecipeConfig, train_seq: Path, split_name: str, n_items: int, seed: int
                ) -> SequentialRecommender:
    """The backbone ``train_seq`` trained on this split with this seed (its Hub folder), in eval mode."""
    name = cfg.pad.backbone
    folder = train_seq / "models" / split_name / name / f"seed{seed}"
    if not folder.is_dir():
        raise ConfigError(f"pad.backbone '{name}': no saved model at {folder} (train_seq trains PAD's anchor)")
    model = catalogue.lookup(name).model_class.from_pretrained(folder)
    if model.n_items != n_items:
        raise ConfigError(f"{folder}: the anchor scores {model.n_items} items, split '{split_name}' has {n_items}")
    return model


def sequential_splits(cfg: RecipeConfig, prepare: Path) -> tuple[list[str], dict[str, SequentialSplit]]:
    """The item texts (items 1..N, for the ``tfidf`` content source) and the recipe's sequential splits."""
    tables, splits = load_prepared(prepare, kinds=cfg.train.splits)
    return list(tables.items["text"]), {name: splits[name] for name in cfg.train.splits if name in splits}  # type: ignore[misc]


def content_cache(cfg: RecipeConfig, content: Path, item_text: list[str], split: SequentialSplit) -> ContentCache:
    """One split's content sources; ``tfidf`` is built with content_knn's settings (``train.models``)."""
    return ContentCache(content, split.n_items, item_text, cfg.train.models.get("content_knn"))


def content_dir(ctx: StageContext) -> Path:
    """Item embeddings: the encode stage's artifact, unless ``pad.content_dir`` names another folder."""
    return Path(ctx.cfg.pad.content_dir) if ctx.cfg.pad.content_dir else ctx.inputs["encode"]


def cells(ctx: StageContext) -> list[tuple]:
    """One task per (split, seed), with every path it needs: what :func:`align_cell` / :func:`pad_cell` take, in
    this process or in ``train.workers`` worker processes (:mod:`mmrec.core.parallel`)."""
    _, splits = sequential_splits(ctx.cfg, ctx.inputs["prepare"])
    inputs = {name: str(path) for name, path in ctx.inputs.items()}
    return [(ctx.cfg, inputs, str(content_dir(ctx)), str(ctx.out), split_name, seed)
            for split_name in splits for seed in ctx.cfg.seeds]


def align_cell(cfg: RecipeConfig, inputs: dict[str, str], content_path: str, out: str, split_name: str,
               seed: int) -> None:
    """Every distinct tower the rows need, for one (split, seed), saved under ``towers/<split>/<key>/seed<seed>``."""
    item_text, splits = sequential_splits(cfg, Path(inputs["prepare"]))
    split = splits[split_name]
    content = content_cache(cfg, Path(content_path), item_text, split)
    trainer = catalogue.lookup("aligned_tower").trainer
    anchor = load_anchor(cfg, Path(inputs["train_seq"]), split_name, split.n_items, seed)
    for key, settings in {row.tower_key(): row for row in rows(cfg.pad).values()}.items():
        tower = trainer(anchor, content(settings.content), split, settings, cfg.train, seed)
        tower.save_pretrained(Path(out) / "towers" / split_name / key / f"seed{seed}")


def run_align(ctx: StageContext) -> None:
    cfg = ctx.cfg
    if not cfg.pad.enabled:
        write_json(ctx.out / "towers.json", {})
        return
    tasks = cells(ctx)
    run_in_workers(align_cell, tasks, distributed.local_workers(cfg.train.workers))
    towers = sorted({row.tower_key() for row in rows(cfg.pad).values()})
    splits = list(dict.fromkeys(task[4] for task in tasks))
    write_json(ctx.out / "towers.json", {"towers": towers, "splits": splits, "seeds": cfg.seeds})


def pad_cell(cfg: RecipeConfig, inputs: dict[str, str], content_path: str, out: str, split_name: str,
             seed: int) -> dict[str, tuple[dict, dict]]:
    """Every row for one (split, seed): fine-tuned (best candidate on validation), tested, saved under
    ``models/<split>/<row>/seed<seed>``; returns row -> (test evaluation, what validation chose)."""
    item_text, splits = sequential_splits(cfg, Path(inputs["prepare"]))
    split = splits[split_name]
    content = content_cache(cfg, Path(content_path), item_text, split)
    trainer = catalogue.lookup("pad").trainer
    anchor = load_anchor(cfg, Path(inputs["train_seq"]), split_name, split.n_items, seed)
    out_rows = {}
    for row, settings in rows(cfg.pad).items():
        tower = AlignedTower.from_pretrained(
            Path(inputs["align"]) / "towers" / split_name / settings.tower_key() / f"seed{seed}")
        model, searched = best_on_validation(
            [trainer(anchor, tower, content(c.content_expert_sources()), split, c, cfg.train, seed)
             for c in settings.candidates()], split, cfg)
        chosen = {"cold_dropout": model.config.cold_dropout, "valid_NDCG@10_by_cold_dropout": searched,
                  "never_seen_share": model.config.never_seen_share}
        result = evaluate(model, ranking_cases(split, "test"), split.item_train_counts(), cfg.eval)
        model.save_pretrained(Path(out) / "models" / split_name / row / f"seed{seed}")
        out_rows[row] = (result, chosen)
    return out_rows


def run_pad(ctx: StageContext) -> None:
    cfg = ctx.cfg
    if not cfg.pad.enabled:
        write_json(ctx.out / "results.json", {})
        return
    tasks = cells(ctx)
    done = run_in_workers(pad_cell, tasks, distributed.local_workers(cfg.train.workers))
    results: dict[str, dict] = {}
    for split_name in dict.fromkeys(task[4] for task in tasks):
        for row, settings in rows(cfg.pad).items():
            per_seed = [(task[5], cell[row]) for task, cell in zip(tasks, done) if task[4] == split_name]
            summary = summarise([result for _, (result, _) in per_seed])
            summary["seeds"], summary["config"] = cfg.seeds, dataclasses.asdict(settings)
            summary["per_seed"] = [{"seed": seed, "NDCG@10": result["overall"]["NDCG@10"], **chosen}
                                   for seed, (result, chosen) in per_seed]
            results.setdefault(split_name, {})[row] = summary
    write_json(ctx.out / "results.json", results)


def best_on_validation(models: list[PAD], split: SequentialSplit, cfg: RecipeConfig) -> tuple[PAD, dict[str, float]]:
    """The candidate with the highest validation NDCG@10 (the first on a tie), each with its never-seen gate mix
    chosen first (:func:`choose_never_seen_share`), and each one's score by cold dropout; a single candidate
    with nothing to choose is returned unscored."""
    valid, counts = ranking_cases(split, "valid"), split.item_train_counts()
    scores = []
    for model in models:
        score = choose_never_seen_share(model, valid, counts, cfg.eval)
        if score is None and len(models) > 1:
            score = evaluate(model, valid, counts, cfg.eval)["overall"]["NDCG@10"]
        scores.append(score)
    if len(models) == 1:
        return models[0], {}
    return models[scores.index(max(scores))], {f"{m.config.cold_dropout:g}": v for m, v in zip(models, scores)}


def choose_never_seen_share(model: PAD, valid, counts: np.ndarray, settings) -> float | None:
    """Set the never-seen gate position to the mix of ``model.config.never_seen_search`` (or the learned column)
    with the best validation NDCG@10 and return that score; None when there is nothing to choose (another gate,
    an empty search, fewer never-seen validation targets than a readable bin)."""
    config = model.config
    n_new = int((counts[valid.targets.numpy()] == 0).sum())
    if config.gate != "frequency" or not config.never_seen_search or n_new < settings.noisy_bin_min_targets:
        return None
    learned = model.item_repr.gate.logits[:, model.item_repr.gate.cold_position].detach().clone()
    best_share, best = None, evaluate(model, valid, counts, settings)["overall"]["NDCG@10"]
    for share in config.never_seen_search:
        model.set_never_seen_share(share)
        score = evaluate(model, valid, counts, settings)["overall"]["NDCG@10"]
        if score > best:
            best_share, best = share, score
    model.set_never_seen_share(best_share, learned)
    return best


def content_fingerprint(cfg: RecipeConfig) -> str:
    return fingerprint_tree(Path(cfg.pad.content_dir)) if cfg.pad.content_dir else ""


ALIGN = Stage(name="align", run=run_align, needs=("prepare", "encode", "train_seq"), sections=("seeds", "train", "pad"),
              version="3", fingerprint=content_fingerprint)
PAD_STAGE = Stage(name="pad", run=run_pad, needs=("prepare", "encode", "train_seq", "align"),
                  sections=("seeds", "eval", "train", "pad"), version="4", fingerprint=content_fingerprint)

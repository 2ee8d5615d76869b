"""``train_seq``: train and evaluate every model of ``train.models`` on each sequential split, for every seed.

Per (split, model, seed): fit on the training sequences with early stopping on validation NDCG@10, then test
once with the best-validation weights. On the new-items split (every validation target never seen in training) an
ID-only model trains and selects on a warm hold-out, each user's last training item (``selection_split``).
Seeds are summarised as ``{"mean", "std", "n"}`` (std over seeds, ddof = 1); models without a trainer in the
catalogue (popularity, content k-NN) are evaluated once (n = 1). Every model is saved as a Hub folder
(``mmrec.hub``), ``models/<split>/<model>/seed<seed>/``: the baselines' item side (training counts, content
vectors) too, under the first seed. Checkpoints live under ``RUN/checkpoints/train_seq-<key>/`` so a killed run
resumes mid-training and skips finished (split, model, seed) cells. With ``train.workers`` > 1 the trainable
cells run in that many worker processes first (:mod:`mmrec.core.parallel`), each with an equal share of the
torch threads.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

from mmrec import catalogue
from mmrec.core.io import write_json
from mmrec.core.parallel import run_in_workers
from mmrec.data.prepared import load_prepared
from mmrec.data.splits import selection_split
from mmrec.eval.evaluate import evaluate, ranking_cases
from mmrec.eval.summary import summarise, table_stats
from mmrec.items.codes import load_codes
from mmrec.models.base import ModelData
from mmrec.pipeline import Stage, StageContext
from mmrec.recipe import RecipeConfig
from mmrec.train import distributed
from mmrec.train.common import default_device, seed_everything


def run_cell(cfg: RecipeConfig, split, data: ModelData, name: str, seed: int, workdir: Path) -> dict:
    """Train (if trainable) and test one model with one seed; returns the evaluation dict plus training facts."""
    spec = catalogue.lookup(name)
    seed_everything(seed)
    start = time.perf_counter()
    model = spec.model_class.build(cfg.train.models[name], data)
    facts: dict = {}
    if spec.trainer is not None:
        selection = selection_split(split, model.scores_unseen_items)  # new-items: ID-only models on a warm hold-out
        trainer = spec.trainer(model, selection.train, ranking_cases(selection, "valid"), cfg.train, seed=seed,
                               eval_batch_size=cfg.eval.batch_size, checkpoint_dir=workdir / "checkpoint",
                               device=default_device())
        early = trainer.fit()
        model.cpu()
        facts = {"best_epoch": early.best_epoch, "epochs_run": len(trainer.history),
                 "valid_NDCG@10": early.best, "selected_on": "warm_holdout" if selection is not split else "valid", "history": [dataclasses.asdict(h) for h in trainer.history],
                 "embedding_tables": table_stats(model.item_repr)}
    train_seconds = time.perf_counter() - start
    if distributed.context().is_main:  # every model, the count and content baselines too: what `mmrec push` reads
        model.save_pretrained(workdir / "model")
    result = evaluate(model, ranking_cases(split, "test"), split.item_train_counts(), cfg.eval)
    return {**result, "train_seconds": train_seconds, **facts}


def _cell_in_worker(cfg: RecipeConfig, prepared: str, quantized: str | None, split_name: str, name: str, seed: int,
                    workdir: str) -> None:
    """One trainable cell in a worker process (``train.workers`` > 1): loads the split, trains, writes
    ``result.json`` (the main loop then reads it like a resumed cell's)."""
    tables, splits = load_prepared(prepared, kinds=(split_name,))
    split = splits[split_name]
    codes = load_codes(quantized) if quantized else None
    data = ModelData(split.n_items, split.train, list(tables.items["text"]), codes)
    result = run_cell(cfg, split, data, name, seed, Path(workdir))
    write_json(Path(workdir) / "result.json", result)


def _train_in_workers(ctx: StageContext, splits: dict, work_root: Path) -> None:
    """Train every unfinished trainable cell over ``train.workers`` processes, those reading codes first (the
    slowest), so the main loop below only collects them. Single-process runs only (torchrun has its own ranks)."""
    cfg = ctx.cfg
    workers = distributed.local_workers(cfg.train.workers)
    if workers <= 1:
        return
    quantized = str(ctx.inputs["quantize"]) if "quantize" in ctx.inputs else None
    tasks = []
    for split_name in (s for s in cfg.train.splits if s in splits):
        for name in cfg.train.models:
            if catalogue.lookup(name).trainer is None:
                continue
            for seed in cfg.seeds:
                workdir = work_root / split_name / name / f"seed{seed}"
                if not (workdir / "result.json").is_file():
                    workdir.mkdir(parents=True, exist_ok=True)
                    tasks.append((cfg, str(ctx.inputs["prepare"]), quantized, split_name, name, seed, str(workdir)))
    tasks.sort(key=lambda task: not catalogue.lookup(task[4]).needs_codes)
    run_in_workers(_cell_in_worker, tasks, workers)


def run(ctx: StageContext) -> None:
    cfg = ctx.cfg
    tables, splits = load_prepared(ctx.inputs["prepare"], kinds=cfg.train.splits)
    item_text = list(tables.items["text"])
    item_codes = load_codes(ctx.inputs["quantize"]) if "quantize" in ctx.inputs else None
    work_root = ctx.run_dir / "checkpoints" / f"train_seq-{ctx.key}"
    _train_in_workers(ctx, splits, work_root)
    results: dict[str, dict] = {}
    logs: dict[str, dict] = {}
    for split_name in cfg.train.splits:
        if split_name not in splits:
            continue  # the recipe did not build this split
        split = splits[split_name]
        data = ModelData(split.n_items, split.train, item_text, item_codes)
        for name in cfg.train.models:
            stochastic = catalogue.lookup(name).trainer is not None
            per_seed = []
            for seed in (cfg.seeds if stochastic else cfg.seeds[:1]):
                workdir = work_root / split_name / name / f"seed{seed}"
                done = workdir / "result.json"
                if not done.is_file():
                    workdir.mkdir(parents=True, exist_ok=True)
                    result = run_cell(cfg, split, data, name, seed, workdir)
                    if distributed.context().is_main:
                        write_json(done, result)
                    distributed.barrier()
                result = json.loads(done.read_text())
                logs.setdefault(split_name, {}).setdefault(name, {})[str(seed)] = result.pop("history", [])
                if (workdir / "model" / "config.json").is_file():
                    shutil.copytree(workdir / "model", ctx.out / "models" / split_name / name / f"seed{seed}")
                per_seed.append(result)
            summary = summarise(per_seed)
            summary["seeds"] = cfg.seeds if stochastic else []
            summary["config"] = {k: v for k, v in dataclasses.asdict(cfg.train.models[name]).items()
                                 if k != "n_items"}
            if stochastic:
                summary["per_seed"] = [{"seed": s, "NDCG@10": r["overall"]["NDCG@10"], "best_epoch": r.get("best_epoch"),
                                        "train_seconds": r["train_seconds"], "selected_on": r.get("selected_on")}
                                       for s, r in zip(cfg.seeds, per_seed)]
            results.setdefault(split_name, {})[name] = summary
    write_json(ctx.out / "results.json", results)
    write_json(ctx.out / "training_log.json", logs)
    if distributed.context().is_main:
        shutil.rmtree(work_root, ignore_errors=True)


def wants(cfg: RecipeConfig) -> tuple[str, ...]:
    """The quantize stage's codes, when a configured model reads semantic IDs."""
    return ("quantize",) if any(catalogue.lookup(name).needs_codes for name in cfg.train.models) else ()


STAGE = Stage(name="train_seq", run=run, needs=("prepare",), sections=("seeds", "eval", "train"), version="4",
              distributed=True, wants=wants)

"""``train_seq``: train and evaluate every model of ``train.models`` on each sequential split, for every seed.

Per (split, model, seed): fit on the training sequences with early stopping on validation NDCG@10, then test
once with the best-validation weights. Seeds are summarised as ``{"mean", "std", "n"}`` (std over seeds,
ddof = 1); models with no randomness (popularity, content k-NN) are evaluated once and reported as numbers.
Every model is saved as a Hub folder (``mmrec.hub``), ``models/<split>/<model>/seed<seed>/``: the baselines' item
side (training counts, content vectors) too, under the first seed. Checkpoints live under ``RUN/checkpoints/train_seq-<key>/`` so a killed run resumes mid-training and skips
finished (split, model, seed) cells.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import numpy as np

from mmrec.config import RecipeConfig
from mmrec.eval.evaluate import evaluate, ranking_cases
from mmrec.io import write_json
from mmrec.models.base import ModelData, SequentialRecommender
from mmrec.models.registry import get_spec
from mmrec.pipeline import Stage, StageContext
from mmrec.stages.prepare import load_prepared
from mmrec.train import distributed
from mmrec.stages.quantize import load_codes
from mmrec.train.common import default_device, seed_everything
from mmrec.train.sequential import SequentialTrainer


def run_cell(cfg: RecipeConfig, split, data: ModelData, name: str, seed: int, workdir: Path) -> dict:
    """Train (if trainable) and test one model with one seed; returns the evaluation dict plus training facts."""
    spec = get_spec(name)
    seed_everything(seed)
    start = time.perf_counter()
    model = spec.build(cfg.train.models[name], data)
    facts: dict = {}
    if isinstance(model, SequentialRecommender):
        trainer = SequentialTrainer(model, split.train, ranking_cases(split, "valid"), cfg.train, seed=seed,
                                    eval_batch_size=cfg.eval.batch_size, checkpoint_dir=workdir / "checkpoint",
                                    device=default_device())
        early = trainer.fit()
        model.cpu()
        facts = {"best_epoch": early.best_epoch, "epochs_run": len(trainer.history),
                 "valid_NDCG@10": early.best, "history": [dataclasses.asdict(h) for h in trainer.history],
                 "embedding_tables": table_stats(model.item_repr)}
    train_seconds = time.perf_counter() - start
    if distributed.context().is_main:  # every model, the count and content baselines too: what `mmrec push` reads
        model.save_pretrained(workdir / "model")
    result = evaluate(model, ranking_cases(split, "test"), split.item_train_counts(), cfg.eval)
    return {**result, "train_seconds": train_seconds, **facts}


def table_stats(item_repr) -> dict:
    """Singular spectrum and information abundance of the learned item tables: ``id`` and each code table."""
    from semantic_ids import embedding_stats

    tables = dict(item_repr.code_tables()) if hasattr(item_repr, "code_tables") else {}
    id_table = getattr(item_repr, "id_embedding", item_repr)
    if hasattr(id_table, "weight"):
        tables["id"] = id_table.weight.weight[1:]  # row 0 is padding
    return {name: {k: (round(v, 4) if isinstance(v, float) else [round(x, 4) for x in v]) for k, v in st.items()}
            for name, st in embedding_stats({n: w.detach().cpu().numpy() for n, w in tables.items()}).items()}


def summarise_tables(per_seed: list[dict]) -> dict:
    """Per table: information abundance (mean, std over seeds) and the seed-mean singular spectrum."""
    names = per_seed[0].get("embedding_tables", {})
    out = {}
    for name in names:
        abundance = np.array([r["embedding_tables"][name]["information_abundance"] for r in per_seed])
        spectra = np.array([r["embedding_tables"][name]["singular_values"] for r in per_seed])
        out[name] = {"information_abundance": {"mean": float(abundance.mean()),
                                               "std": float(abundance.std(ddof=1)) if len(abundance) > 1 else 0.0,
                                               "n": len(abundance)},
                     "singular_values": [round(float(v), 4) for v in spectra.mean(0)]}
    return out


def summarise(per_seed: list[dict]) -> dict:
    """Numbers across seeds -> {"mean", "std", "n"}; descriptive fields (counts, flags) are kept as they are."""
    first = per_seed[0]
    if len(per_seed) == 1:
        return {**first, "embedding_tables": summarise_tables(per_seed)} if "embedding_tables" in first else first

    def combine(values: list):
        if all(isinstance(v, bool) for v in values) or not all(isinstance(v, (int, float)) for v in values):
            return values[0]
        arr = np.asarray(values, dtype=np.float64)
        return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)), "n": len(arr)}

    out: dict = {}
    for key in ("overall", "warm", "cold"):
        out[key] = {m: (combine([r[key][m] for r in per_seed]) if m != "n_targets" else first[key][m])
                    for m in first[key]}
    keep = {"bin", "min_count", "max_count", "n_items", "n_targets", "noisy"}
    out["bins"] = [{m: (row[m] if m in keep else combine([r["bins"][b][m] for r in per_seed])) for m in row}
                   for b, row in enumerate(first["bins"])]
    for key in ("train_seconds", "eval_seconds", "best_epoch", "valid_NDCG@10"):
        if key in first:
            out[key] = combine([r[key] for r in per_seed])
    out["n_targets"] = first["n_targets"]
    if "embedding_tables" in first:
        out["embedding_tables"] = summarise_tables(per_seed)
    return out


def run(ctx: StageContext) -> None:
    cfg = ctx.cfg
    tables, splits = load_prepared(ctx.inputs["prepare"])
    item_text = list(tables.items["text"])
    item_codes = load_codes(ctx.inputs["quantize"]) if "quantize" in ctx.inputs else None
    work_root = ctx.run_dir / "checkpoints" / f"train_seq-{ctx.key}"
    results: dict[str, dict] = {}
    logs: dict[str, dict] = {}
    for split_name in cfg.train.splits:
        if split_name not in splits:
            continue  # the recipe did not build this split
        split = splits[split_name]
        data = ModelData(split.n_items, split.train, item_text, item_codes)
        for name in cfg.train.models:
            stochastic = get_spec(name).model_class.trainable
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
                                        "train_seconds": r["train_seconds"]} for s, r in zip(cfg.seeds, per_seed)]
            results.setdefault(split_name, {})[name] = summary
    write_json(ctx.out / "results.json", results)
    write_json(ctx.out / "training_log.json", logs)
    if distributed.context().is_main:
        shutil.rmtree(work_root, ignore_errors=True)


def wants(cfg: RecipeConfig) -> tuple[str, ...]:
    """The quantize stage's codes, when a configured model reads semantic IDs."""
    return ("quantize",) if any(get_spec(name).needs_codes for name in cfg.train.models) else ()


STAGE = Stage(name="train_seq", run=run, needs=("prepare",), sections=("seeds", "eval", "train"), version="3",
              distributed=True, wants=wants)

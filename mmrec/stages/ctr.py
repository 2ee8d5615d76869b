"""``ctr``: train every CTR model of the recipe for every seed, evaluate on the test part, write results.

Modality tables (``ctr.modalities``) come from the ``encode`` stage's artifact, or from ``ctr.modalities_dir``
when that is set. ``results.json`` = ``{"ctr": {model: {overall, warm, cold, bins (mean/std/n),
train_seconds, eval_seconds, seeds}}}``; each trained model is saved under ``models/<key>/seed-<s>/``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import torch

from mmrec.config import RecipeConfig
from mmrec.data.ctr_batches import build_ctr_samples
from mmrec.data.modalities import load_modalities
from mmrec.eval.ctr_metrics import aggregate_seeds, ctr_report
from mmrec.io import fingerprint_tree, write_json
from mmrec.models.ctr import CTR_MODELS, build_ctr_model
from mmrec.pipeline import Stage, StageContext
from mmrec.stages.prepare import load_prepared
from mmrec.train.common import default_device, seed_everything
from mmrec.train.ctr import CTRTrainSettings, predict, train_ctr

log = logging.getLogger("mmrec")


def modalities_source(ctx_inputs: dict[str, Path], cfg: RecipeConfig) -> Path:
    return Path(cfg.ctr.modalities_dir).expanduser() if cfg.ctr.modalities_dir else ctx_inputs["encode"]


def run(ctx: StageContext) -> None:
    cfg = ctx.cfg.ctr
    if not cfg.models:
        write_json(ctx.out / "results.json", {})
        return
    unknown = [m for m in cfg.models if m not in CTR_MODELS]
    if unknown:
        raise KeyError(f"ctr.models: unknown {unknown}; registered: {', '.join(CTR_MODELS)}")
    tables, splits = load_prepared(ctx.inputs["prepare"])
    if "ctr" not in splits:
        raise ValueError("the ctr stage needs split.kinds to include 'ctr'")
    split = splits["ctr"]
    samples, spec = build_ctr_samples(split, tables, cfg.max_history, cfg.user_fields, cfg.genre_field)
    source = modalities_source(ctx.inputs, ctx.cfg)
    modalities = load_modalities(source, cfg.modalities) if cfg.modalities else None
    needy = [m for m in cfg.models if CTR_MODELS[m].needs_modalities]
    if needy and modalities is None:
        raise ValueError(f"ctr models {needy} need item modality tables: set ctr.modalities (e.g. [text, image])")
    counts = split.item_train_counts()
    device = default_device()
    test = samples["test"]
    results, per_seed = {}, {}
    for name in cfg.models:
        runs = []
        for seed in ctx.cfg.seeds:
            seed_everything(seed)
            overrides = {"embed_dim": cfg.embed_dim, **cfg.model_overrides.get(name, {})}
            model = build_ctr_model(name, spec, modalities, overrides).to(device)
            settings = CTRTrainSettings(cfg.batch_size, cfg.eval_batch_size, cfg.lr, cfg.weight_decay,
                                        cfg.max_epochs, cfg.patience, seed)
            trained = train_ctr(model, samples["train"], samples["valid"], settings,
                                ctx.run_dir / "checkpoints" / "ctr" / f"{name}-seed{seed}")
            start = time.perf_counter()
            probs = predict(model, test, cfg.eval_batch_size)
            eval_seconds = time.perf_counter() - start
            report = ctr_report(test.user.numpy(), test.item.numpy(), test.label.numpy(), probs, counts,
                                ctx.cfg.eval.cold_threshold, ctx.cfg.eval.n_bins, ctx.cfg.eval.noisy_bin_min_targets)
            model.save_pretrained(ctx.out / "models" / name / f"seed-{seed}")
            runs.append({**report, "train_seconds": trained.train_seconds, "eval_seconds": eval_seconds,
                         "best_epoch": trained.best_epoch, "valid_auc": trained.best_valid_auc})
            per_seed.setdefault(name, {})[seed] = {**runs[-1], "epochs": trained.epochs}
            log.info("ctr %s seed %d: test AUC %.4f (valid %.4f, epoch %d)", name, seed,
                     report["overall"]["AUC"], trained.best_valid_auc, trained.best_epoch)
        results[name] = {**aggregate_seeds(runs), "seeds": list(ctx.cfg.seeds),
                         "config": dataclasses.asdict(model.config)}
    write_json(ctx.out / "results.json", {"ctr": results})
    write_json(ctx.out / "per_seed.json", per_seed)
    write_json(ctx.out / "features.json", {"spec": dataclasses.asdict(spec),
                                           "modalities": sorted(modalities) if modalities else [],
                                           "modalities_source": str(source),
                                           "torch_threads": torch.get_num_threads()})


def _fingerprint(cfg: RecipeConfig) -> str:
    return fingerprint_tree(cfg.ctr.modalities_dir) if cfg.ctr.modalities_dir else ""


STAGE = Stage(name="ctr", run=run, needs=("prepare", "encode"), sections=("seeds", "ctr", "eval"), version="1",
              fingerprint=_fingerprint)

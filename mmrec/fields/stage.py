"""``fields``: CTR on the typed feature layer: every ``fields.models`` entry for every recipe seed, tested once.

The recipe's ``features:`` declarations describe the events (:mod:`mmrec.fields.events`); the feature map is fitted
on train only and every split encoded once (:mod:`mmrec.fields.encoding`). Each model is trained by its catalogue
trainer with early stopping on validation, and the best-validation weights are tested once. The artifact holds
``results.json`` = ``{"fields": {model: {overall, warm, cold, bins (mean / std / n over seeds), per_seed, config,
embedding_analysis (first seed), ...}}}``, ``summary.json`` (events per split, label rate, field sizes),
``feature_map.json`` and each trained model as a Hub folder ``models/fields/<model>/seed<s>/`` (the feature map
inside: ``mmrec.hub.load_model(folder).predict(raw rows)`` encodes raw events itself). Everything is written into
the stage's temporary directory, which becomes the artifact only when the stage finishes: a killed run leaves no
partial artifact and the re-run starts the stage over.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import torch

from mmrec.core.io import fingerprint_tree, write_json
from mmrec.core.seeds import aggregate_seeds
from mmrec.data import resolve_dataset
from mmrec.data.tables import Tables
from mmrec.eval.fields_analysis import analyse_fields_model
from mmrec.features import FeatureMap, parse_fields
from mmrec.fields.encoding import check_labels, embedding_fields, fit_and_encode, frozen_tables
from mmrec.fields.events import check_nonempty, event_sources, is_ctr_log, needs_tables
from mmrec.fields.training import test_report, train_model
from mmrec.pipeline import Stage, StageContext
from mmrec.recipe import RecipeConfig

log = logging.getLogger("mmrec")
RESULTS_KEY = "fields"  # results.json's top-level key, and the report's name


def _summary(cfg: RecipeConfig, feature_map: FeatureMap, data: dict[str, dict[str, torch.Tensor]],
             sources: dict) -> dict:
    label = feature_map.labels[0]
    return {"dataset": cfg.data.dataset, "sources": {s: src.name for s, src in sources.items()},
            **{f"n_{s}": int(len(t[label])) for s, t in data.items()},
            **{f"{label}_rate_{s}": round(float(t[label].float().mean()), 4) for s, t in data.items()},
            "labels": feature_map.labels, "field_sizes": feature_map.sizes()}


def _number(value: float | None) -> float:
    """A metric for a log line: NaN where it is undefined (AUC of a one-class split)."""
    return float("nan") if value is None else value


def _modalities_dir(ctx: StageContext) -> Path | None:
    fields = ctx.cfg.fields
    if fields.modalities_dir:
        return Path(fields.modalities_dir).expanduser()
    return ctx.inputs.get("encode")


def run(ctx: StageContext) -> None:
    cfg = ctx.cfg
    fc = cfg.fields
    if not fc.models:
        write_json(ctx.out / "results.json", {})
        return
    fields = parse_fields(cfg.features, "features")
    tables = Tables.load(ctx.inputs["prepare"] / "tables") if "prepare" in ctx.inputs else None
    sources = event_sources(cfg, fields, tables)
    check_nonempty(sources)
    embeddings, pretrained = frozen_tables(fields, _modalities_dir(ctx), tables)
    feature_map, data = fit_and_encode(fields, sources, embeddings)
    check_labels(feature_map, data, sources, fc.train.monitor)
    feature_map.save(ctx.out / "feature_map.json")
    results, per_seed = {}, {}
    for name in fc.models:
        runs = []
        for seed in cfg.seeds:
            log.info("fields %s seed %d: training", name, seed)
            model, trained = train_model(fc, name, seed, feature_map, data, pretrained)
            report = test_report(model, data, fc, cfg.eval, fc.train.eval_batch_size)
            model.save_pretrained(ctx.out / "models" / RESULTS_KEY / name / f"seed{seed}")
            if seed == cfg.seeds[0]:  # the report's embedding analysis: the first seed's model
                analysis = analyse_fields_model(model, data["test"], data["train"], seed, fc.analysis_events)
            runs.append({**report, "train_seconds": trained.train_seconds, "fit_seconds": trained.fit_seconds,
                         "samples_per_s": trained.samples_per_s, "best_epoch": trained.best_epoch,
                         "valid_AUC": trained.best_valid.get("AUC")})
            per_seed.setdefault(name, {})[seed] = {**runs[-1], "history": trained.history}
            log.info("fields %s seed %d: test AUC %.4f, LogLoss %.4f (best epoch %d of %d, valid AUC %.4f)", name,
                     seed, _number(report["overall"]["AUC"]), report["overall"]["LogLoss"], trained.best_epoch,
                     trained.epochs, _number(trained.best_valid.get("AUC")))
        results[name] = {**aggregate_seeds(runs), "seeds": list(cfg.seeds), "config": dataclasses.asdict(model.config),
                         "embedding_analysis": analysis,
                         "per_seed": [{"seed": s, "AUC": r["overall"]["AUC"], "LogLoss": r["overall"]["LogLoss"],
                                       "GAUC": r["overall"]["GAUC"], "cold_AUC": r.get("cold", {}).get("AUC"),
                                       "best_epoch": r["best_epoch"], "train_seconds": r["train_seconds"]}
                                      for s, r in zip(cfg.seeds, runs)]}
    write_json(ctx.out / "results.json", {RESULTS_KEY: results})
    write_json(ctx.out / "per_seed.json", per_seed)
    write_json(ctx.out / "summary.json", {**_summary(cfg, feature_map, data, sources),
                                          "frozen_tables": sorted(pretrained), "torch_threads": torch.get_num_threads()})


def wants(cfg: RecipeConfig) -> tuple[str, ...]:
    """prepare's tables where the events are built from them (ml-100k); encode where embedding fields need it."""
    out = ("prepare",) if needs_tables(cfg) else ()
    declared = embedding_fields(parse_fields(cfg.features, "features")) if cfg.features and cfg.fields.models else []
    if declared and cfg.fields.modalities_dir is None:
        out += ("encode",)
    return out


def _fingerprint(cfg: RecipeConfig) -> str:
    """The event files of a CTR log (ml-100k's are covered by the prepare stage's key), and the modality folder."""
    parts = []
    if cfg.fields.models and is_ctr_log(cfg):
        parts.append(fingerprint_tree(resolve_dataset(cfg.data)[0]))
    if cfg.fields.modalities_dir:
        parts.append(fingerprint_tree(cfg.fields.modalities_dir))
    return ":".join(parts)


STAGE = Stage(name="fields", run=run, sections=("seed", "seeds", "data", "split", "features", "fields", "eval"),
              version="1", fingerprint=_fingerprint, wants=wants)

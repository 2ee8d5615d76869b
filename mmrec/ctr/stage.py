"""``ctr``: train every CTR model of the recipe for every seed, evaluate on the test part, write results.

Modality tables (``ctr.modalities``) come from the ``encode`` stage's artifact, or from ``ctr.modalities_dir``
when that is set. The ``*_te`` models read items through the triple-expert item side (``ctr.item_side``): its
content table comes from the same place, its codes from the ``quantize`` stage (wanted only then), its frequency
bins from the CTR training events. ``results.json`` = ``{"ctr": {model: {overall, warm, cold, bins (mean/std/n),
train_seconds, eval_seconds, seeds, per_seed, config}}}``; each trained model is saved in the Hub format
(``save_pretrained``; ``mmrec.hub.load_model`` and ``mmrec push`` read it) under ``models/ctr/<key>/seed<s>/``.
Each result also carries ``embedding_analysis`` of its first seed's model (:mod:`mmrec.eval.embedding_report`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import numpy as np
import torch

from mmrec import catalogue
from mmrec.core.config import ConfigError
from mmrec.core.io import fingerprint_tree, write_json
from mmrec.core.modalities import load_modalities
from mmrec.core.seeds import aggregate_seeds
from mmrec.ctr.build import build_ctr_model
from mmrec.ctr.train import CTRTrainSettings, predict
from mmrec.data.ctr_batches import build_ctr_samples
from mmrec.data.prepared import load_prepared
from mmrec.eval.ctr_metrics import ctr_report
from mmrec.eval.embedding_report import analyse_ctr_model
from mmrec.items.codes import load_codes
from mmrec.items.triple import TripleExpertItems
from mmrec.pipeline import Stage, StageContext
from mmrec.recipe import RecipeConfig
from mmrec.train.common import default_device, seed_everything

log = logging.getLogger("mmrec")


def modalities_source(ctx_inputs: dict[str, Path], cfg: RecipeConfig) -> Path:
    return Path(cfg.ctr.modalities_dir).expanduser() if cfg.ctr.modalities_dir else ctx_inputs["encode"]


def triple_models(cfg: RecipeConfig) -> list[str]:
    """The recipe's CTR models that read items through the triple-expert item side."""
    return [m for m in cfg.ctr.models if catalogue.resolve(m)[1].triple_items]


@dataclasses.dataclass
class ItemSideInputs:
    """What every triple-expert item side of a run is built from (shared by its models and seeds)."""

    counts: torch.Tensor  # (N + 1,) CTR training events per item
    content: torch.Tensor  # (N + 1, d_c) the aligned expert's content table
    codes: torch.Tensor | None  # (N + 1, n_codebooks, levels) or None

    def build(self, cfg: RecipeConfig, dim: int) -> TripleExpertItems:
        side = cfg.ctr.item_side
        return TripleExpertItems(self.counts, self.content, dim, self.codes, side.n_bins, side.projector_layers,
                                 side.projector_dropout, side.cold_dropout)


def item_side_inputs(ctx: StageContext, source: Path, counts: np.ndarray) -> ItemSideInputs:
    side = ctx.cfg.ctr.item_side
    try:
        content, _ = load_modalities(source, [side.content])[side.content]
    except FileNotFoundError as exc:
        raise ConfigError(f"ctr.item_side.content: {exc}") from None
    codes = None
    if side.codes is not None:
        codes = torch.from_numpy(load_codes(ctx.inputs["quantize"])[side.codes])
    for name, table in (("content", content), ("codes", codes)):
        if table is not None and len(table) != len(counts):
            raise ConfigError(f"ctr.item_side.{name}: the table has {len(table)} rows, the CTR split has "
                              f"{len(counts)} (N + 1); it was built for another catalogue")
    return ItemSideInputs(torch.from_numpy(counts), content, codes)


def run(ctx: StageContext) -> None:
    cfg = ctx.cfg.ctr
    if not cfg.models:
        write_json(ctx.out / "results.json", {})
        return
    tables, splits = load_prepared(ctx.inputs["prepare"], kinds=("ctr",))
    if "ctr" not in splits:
        raise ValueError("the ctr stage needs split.kinds to include 'ctr'")
    split = splits["ctr"]
    samples, spec = build_ctr_samples(split, tables, cfg.max_history, cfg.user_fields, cfg.genre_field)
    source = modalities_source(ctx.inputs, ctx.cfg)
    modalities = load_modalities(source, cfg.modalities) if cfg.modalities else None
    needy = [m for m in cfg.models if catalogue.lookup(m).model_class.modalities_needed(
        catalogue.model_config(m, cfg.model_overrides.get(m, {}), f"ctr.model_overrides.{m}", cfg.shared_fields()))]
    if needy and modalities is None:
        raise ValueError(f"ctr models {needy} need item modality tables: set ctr.modalities (e.g. [text, image])")
    counts = split.item_train_counts()
    item_side = item_side_inputs(ctx, source, counts) if triple_models(ctx.cfg) else None
    device = default_device()
    test = samples["test"]
    results, per_seed = {}, {}
    for name in cfg.models:
        runs = []
        for seed in ctx.cfg.seeds:
            seed_everything(seed)
            params = cfg.model_overrides.get(name, {})
            triple = catalogue.resolve(name)[1].triple_items
            item_repr = item_side.build(ctx.cfg, params.get("embed_dim", cfg.embed_dim)) if triple else None
            model = build_ctr_model(name, spec, modalities, cfg.shared_fields(), item_repr, params).to(device)
            settings = CTRTrainSettings(cfg.batch_size, cfg.eval_batch_size, cfg.lr, cfg.weight_decay,
                                        cfg.max_epochs, cfg.patience, seed, sparse_min_rows=cfg.sparse_min_rows)
            trained = catalogue.lookup(name).trainer(model, samples["train"], samples["valid"], settings,
                                ctx.run_dir / "checkpoints" / f"ctr-{ctx.key}" / f"{name}-seed{seed}")
            start = time.perf_counter()
            probs = predict(model, test, cfg.eval_batch_size)
            eval_seconds = time.perf_counter() - start
            report = ctr_report(test.user.numpy(), test.item.numpy(), test.label.numpy(), probs, counts,
                                ctx.cfg.eval.cold_threshold, ctx.cfg.eval.n_bins, ctx.cfg.eval.noisy_bin_min_targets)
            model.save_pretrained(ctx.out / "models" / "ctr" / name / f"seed{seed}")
            if seed == ctx.cfg.seeds[0]:  # the report's embedding analysis: the first seed's model
                embeddings = analyse_ctr_model(model, test, samples["train"], cfg.user_fields, seed)
            runs.append({**report, "train_seconds": trained.train_seconds, "eval_seconds": eval_seconds,
                         "best_epoch": trained.best_epoch, "valid_auc": trained.best_valid_auc})
            per_seed.setdefault(name, {})[seed] = {**runs[-1], "epochs": trained.epochs}
            log.info("ctr %s seed %d: test AUC %.4f (valid %.4f, epoch %d)", name, seed,
                     report["overall"]["AUC"], trained.best_valid_auc, trained.best_epoch)
        config = dataclasses.asdict(model.config)
        if catalogue.resolve(name)[1].triple_items:
            config["item_side"] = dataclasses.asdict(cfg.item_side)
        results[name] = {**aggregate_seeds(runs), "seeds": list(ctx.cfg.seeds), "config": config,
                         "embedding_analysis": embeddings,
                         "per_seed": [{"seed": s, "AUC": r["overall"]["AUC"], "GAUC": r["overall"]["GAUC"],
                                       "cold_AUC": r["cold"]["AUC"], "best_epoch": r["best_epoch"],
                                       "train_seconds": r["train_seconds"]} for s, r in zip(ctx.cfg.seeds, runs)]}
    write_json(ctx.out / "results.json", {"ctr": results})
    write_json(ctx.out / "per_seed.json", per_seed)
    write_json(ctx.out / "features.json", {
        "spec": dataclasses.asdict(spec), "modalities": sorted(modalities) if modalities else [],
        "modalities_source": str(source), "torch_threads": torch.get_num_threads(),
        "item_side": None if item_side is None else {
            "content": cfg.item_side.content, "content_dim": int(item_side.content.shape[1]),
            "codes": cfg.item_side.codes,
            "codes_shape": None if item_side.codes is None else list(item_side.codes.shape),
            "never_seen_items": int((item_side.counts[1:] == 0).sum())}})


def wants(cfg: RecipeConfig) -> tuple[str, ...]:
    """The quantize stage's codes, when a ``*_te`` model's item side has a codes expert (checked to exist)."""
    codes = cfg.ctr.item_side.codes
    if codes is None or not triple_models(cfg):
        return ()
    if codes not in cfg.quantize.all_variants():
        raise ConfigError(f"ctr.item_side.codes: '{codes}' is not a quantize variant (the quantize section makes "
                          f"{sorted(cfg.quantize.all_variants())}); add it there, or set ctr.item_side.codes: null "
                          "to leave the codes expert out")
    return ("quantize",)


def _fingerprint(cfg: RecipeConfig) -> str:
    return fingerprint_tree(cfg.ctr.modalities_dir) if cfg.ctr.modalities_dir else ""


STAGE = Stage(name="ctr", run=run, needs=("prepare", "encode"), sections=("seeds", "ctr", "eval"), version="2",
              fingerprint=_fingerprint, wants=wants)

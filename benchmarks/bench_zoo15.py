"""Zoo III (issue 15) tables: multi-domain models per domain, D-Train against joint / multi-head training,
Crocodile's covariance and IA against ME-MMoE, STEM against shared embeddings on planted conflicting tasks, and
the one-epoch phenomenon with and without stage-1 ID pre-training. One thread; resumable: every finished run is
kept in the JSON and skipped when the cell runs again; the markdown is rebuilt from the JSON each time.

    flock /tmp/mmrec-heavy.lock python benchmarks/bench_zoo15.py --cell CELL [--seeds 0 1 2]
        [--splits /tmp/mmrec-frappe/seed0] [--out benchmarks/results/zoo15]

Cells: frappe_md (every multi-domain model on Frappe `homework`), frappe_dtrain, ml100k_md, ml100k_dtrain,
ml100k_funnel (multi-task CVR: shared-bottom, STEM, DHEN multi-task with / without its next-action loss)
(ml-100k CTR, `age_domain`, flat fields only), planted_dtrain, planted_stem (synthetic: the mechanism planted,
said so in the table), one_epoch (Frappe DNN / DCNv2 validation AUC per epoch; DNN from stage-1 ID tables, with
the AUC on tail items).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from bench_frappe import DEEP, REPO, frappe_data

from mmrec.core.io import write_json, write_text
from mmrec.data.ml100k_ctr import ml100k_ctr_frames
from mmrec.data.ml100k_funnel import ml100k_funnel_frames
from mmrec.eval.ctr_metrics import auc, ctr_report, gauc
from mmrec.eval.domain_metrics import model_domain_report, model_entanglement
from mmrec.eval.embedding_analysis import table_stats
from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.models.zoo.dcnv2 import DCNv2, DCNv2Config
from mmrec.models.zoo.dhen_multitask import DHENMultiTask, DHENMultiTaskConfig
from mmrec.models.zoo.dnn import DNN, DNNConfig
from mmrec.models.zoo.id_pretrain import IDDotProduct, IDPretrainConfig, init_ranker_from
from mmrec.models.zoo.multidomain.crocodile import Crocodile, CrocodileConfig, cross_covariance
from mmrec.models.zoo.multidomain.me_mmoe import MEMMoE, MEMMoEConfig
from mmrec.models.zoo.multidomain.mmoe import MMoE, MMoEConfig
from mmrec.models.zoo.multidomain.ple import PLE, PLEConfig
from mmrec.models.zoo.multidomain.shared_bottom import SharedBottom, SharedBottomConfig
from mmrec.models.zoo.stem import STEM, STEMConfig
from mmrec.train.dtrain import DTrainConfig, dtrain
from mmrec.train.fields import FieldTrainConfig, seed_all, train_fields
from mmrec.train.id_pretrain import IDPretrainTrainConfig, train_id_pretrain
from mmrec.train.multitask import MultiTaskTrainConfig, evaluate_tasks, train_multitask

BASE = {"embed_dim": 10, "embedding_regularizer": 0.05, "dropout": 0.2, "batch_norm": True,
        "hidden_units": [64], "tower_units": [32]}
MD_MODELS = {"shared_bottom": (SharedBottom, SharedBottomConfig, {}), "mmoe": (MMoE, MMoEConfig, {"num_experts": 3}),
             "ple": (PLE, PLEConfig, {}), "me_mmoe": (MEMMoE, MEMMoEConfig, {}),
             "crocodile": (Crocodile, CrocodileConfig, {})}
ML100K_FIELDS = [{"name": n, "type": "categorical"} for n in ("user", "age_band", "gender", "occupation", "zip_prefix",
                                                               "item", "category")] + [
    {"name": "age_domain", "type": "domain"}, {"name": "genres", "type": "multi_categorical"},
    {"name": "year", "type": "numeric"}, {"name": "when", "type": "context", "source": "timestamp"},
    {"name": "click", "type": "label"}]
TAIL = 5  # an item with <= TAIL training events is a tail item


def train_config(seed: int, **extra) -> MultiTaskTrainConfig:
    return MultiTaskTrainConfig(**{"max_epochs": 12, "patience": 2, "threads": 1, "seed": seed, **extra})


def multi_embedding_stats(model, test) -> dict:
    """Cross-set covariance on 4096 test rows and the mean IA of every (set, categorical field) table."""
    inputs = model.features.pack({k: v[:4096] for k, v in test.items() if k not in model.feature_map.labels})
    with torch.no_grad():
        cov = float(cross_covariance(model.set_embeddings(inputs)))
    ia = [table_stats(layer.field_table(f)[2:].detach())["information_abundance"]
          for layer in model.embedding_sets for f in layer.categorical]
    return {"cross_cov": cov, "IA": float(np.mean(ia))}


def scored(model, data, extra: dict | None = None) -> dict:
    report = model_domain_report(model, data["test"], user_field="user")
    probs = model.predict(data["test"])
    labels, users = data["test"][model.label].numpy(), data["test"]["user"].numpy()
    ent = model_entanglement(model, data["test"], by="domain", max_rows=8192)["matrix"]
    off = [c for i, row in enumerate(ent) for j, c in enumerate(row) if i < j and c is not None]
    return {"AUC": auc(labels, probs), "GAUC": gauc(users, labels, probs), "domains": report["domains"],
            "worst_AUC": report["worst"]["AUC"], "worst_GAUC": report["worst"]["GAUC"],
            "entanglement_mean_cos": float(np.mean(off)) if off else None, **(extra or {})}


def md_run(name: str):
    def run(loaded, seed):
        fmap, data = loaded
        cls, config_cls, own = MD_MODELS[name]
        seed_all(seed)
        model = cls(config_cls(**BASE, **own), fmap)
        result = train_multitask(model, data["train"], data["valid"], train_config(seed))
        extra = multi_embedding_stats(model, data["test"]) if isinstance(model, MEMMoE) else {}
        return scored(model, data, {"epochs": result.epochs, **extra})
    return run


def dtrain_run(mode: str, base: dict | None = None, train_extra: dict | None = None):
    def run(loaded, seed):
        fmap, data = loaded
        seed_all(seed)
        model = SharedBottom(SharedBottomConfig(**(base or BASE)), fmap)
        config = train_config(seed, **(train_extra or {}))
        if mode == "joint":
            model.forced_domain = 0
            train_multitask(model, data["train"], data["valid"], config)
        elif mode == "multi_head":
            train_multitask(model, data["train"], data["valid"], config)
        else:
            dtrain(model, data["train"], data["valid"], DTrainConfig(config, config, config))
        return scored(model, data)
    return run


FUNNEL_HISTORY = 20
FUNNEL_FIELDS = [f for f in ML100K_FIELDS if f["type"] != "label"] + [
    {"name": "history", "type": "sequence", "max_len": FUNNEL_HISTORY,
     "vocabulary_of": {"hist_item": "item", "hist_category": "category"},
     "fields": [{"name": n, "type": "categorical"} for n in ("hist_item", "hist_category", "hist_rating")]},
    {"name": "click", "type": "label"}, {"name": "conversion", "type": "label"}]
FUNNEL_MODELS = {"shared_bottom": (SharedBottom, SharedBottomConfig, {}), "stem": (STEM, STEMConfig, {}),
                 "dhen_multitask": (DHENMultiTask, DHENMultiTaskConfig, {"max_history": FUNNEL_HISTORY}),
                 "dhen_multitask_no_aux": (DHENMultiTask, DHENMultiTaskConfig,
                                           {"max_history": FUNNEL_HISTORY, "aux_weight": 0.0})}


def funnel_run(name: str):
    """Per-task test AUC on the ml-100k funnel (click = an impression clicked, conversion = liked; entire space)
    and the conversion AUC among clicked impressions (CVR proper). Early stopping on the mean validation AUC."""
    def run(loaded, seed):
        fmap, data = loaded
        cls, config_cls, own = FUNNEL_MODELS[name]
        seed_all(seed)
        model = cls(config_cls(**BASE, labels=["click", "conversion"], **own), fmap)
        result = train_multitask(model, data["train"], data["valid"], train_config(seed, max_epochs=8))
        test = data["test"]
        scores = evaluate_tasks(model, test)
        probs = model.predict_tasks(test)
        clicked = test["click"].numpy() == 1
        users = test["user"].numpy()
        ent = model_entanglement(model, test, by="task", max_rows=8192)["matrix"][0][1]
        return {"AUC_click": scores["AUC_click"], "AUC_conversion": scores["AUC_conversion"],
                "GAUC_conversion": gauc(users, test["conversion"].numpy(), probs[:, 1]),
                "CVR_AUC_clicked": auc(test["conversion"].numpy()[clicked], probs[clicked, 1]),
                "task_cos": ent, "epochs": result.epochs}
    return run


def planted_domains(n: int, seed: int, small: float = 0.04, n_items: int = 60) -> pd.DataFrame:
    """tests/zoo/test_dtrain.py's generator: the small domain's clicks are the others' flipped."""
    rng = np.random.default_rng(seed)
    user, item = rng.integers(0, 20, n), rng.integers(0, n_items, n)
    dom = rng.choice(["a", "b", "s"], n, p=[(1 - small) / 2, (1 - small) / 2, small])
    click = np.random.default_rng(99).permutation([0, 1] * (n_items // 2))[item]
    click = np.where(dom == "s", 1 - click, click)
    return pd.DataFrame({"user": user.astype(str), "item": item.astype(str), "dom": dom,
                         "click": np.where(rng.random(n) < 0.05, 1 - click, click)})


def planted_tasks(n: int, seed: int, clusters: int = 8) -> pd.DataFrame:
    """Two tasks over independent partitions of users and items into 8 clusters: a = [c_a(user) = c_a(item)],
    b = [c_b(user) = c_b(item)], 5% noise. With embeddings of width 2 a shared table has to hold both partitions
    (64 combinations), a task table one (8)."""
    rng = np.random.default_rng(seed)
    part = np.random.default_rng(7).integers(0, clusters, size=(4, 200))
    user, item = rng.integers(0, 200, n), rng.integers(0, 200, n)
    a = (part[0, user] == part[1, item]).astype(int)
    b = (part[2, user] == part[3, item]).astype(int)
    noise = rng.random((2, n)) < 0.05
    return pd.DataFrame({"user": user.astype(str), "item": item.astype(str), "dom": "one",
                         "a": np.where(noise[0], 1 - a, a), "b": np.where(noise[1], 1 - b, b)})


def planted_data(frames, fields):
    fmap = FeatureMap.fit(parse_fields(fields), frame_chunks(frames["train"]))
    return fmap, {k: fmap.encode(v) for k, v in frames.items()}


DOMAIN_FIELDS = [{"name": "user", "type": "categorical"}, {"name": "item", "type": "categorical"},
                 {"name": "dom", "type": "domain"}]


def stem_run(name: str):
    def run(_loaded, seed):
        fmap, data = planted_data({s: planted_tasks(n, 10 * seed + k) for k, (s, n) in
                                   enumerate([("train", 20000), ("valid", 4000), ("test", 4000)])},
                                  DOMAIN_FIELDS + [{"name": "a", "type": "label"}, {"name": "b", "type": "label"}])
        settings = {"embed_dim": 6 if name == "shared_bottom_x3" else 2, "hidden_units": [32], "tower_units": [16],
                    "dropout": 0.0, "labels": ["a", "b"]}
        seed_all(seed)
        model = STEM(STEMConfig(**settings), fmap) if name == "stem" else SharedBottom(SharedBottomConfig(**settings),
                                                                                       fmap)
        train_multitask(model, data["train"], data["valid"], train_config(seed, lr=1e-2, batch_size=512))
        scores = evaluate_tasks(model, data["test"])
        ent = model_entanglement(model, data["test"], by="task")["matrix"][0][1]
        return {"AUC_a": scores["AUC_a"], "AUC_b": scores["AUC_b"], "AUC": scores["AUC"], "task_cos": ent}
    return run


def planted_dtrain_run(mode: str):
    def run(_loaded, seed):
        loaded = planted_data({s: planted_domains(n, 10 * seed + k) for k, (s, n) in
                               enumerate([("train", 8000), ("valid", 3000), ("test", 3000)])},
                              DOMAIN_FIELDS + [{"name": "click", "type": "label"}])
        base = {"embed_dim": 4, "hidden_units": [16], "tower_units": [], "dropout": 0.0}
        return dtrain_run(mode, base, {"lr": 1e-2, "batch_size": 256, "max_epochs": 5})(loaded, seed)
    return run


def one_epoch_run(name: str):
    """Validation AUC per epoch, no early stopping for 4 epochs, no lr decay (the phenomenon needs no help)."""
    def run(loaded, seed):
        fmap, data = loaded
        seed_all(seed)
        plain = {**DEEP, "embedding_regularizer": 0.0}
        model = DCNv2(DCNv2Config(**plain), fmap) if name == "dcnv2" else DNN(DNNConfig(**plain), fmap)
        out = {}
        if name == "dnn_pretrained":
            stage1 = IDDotProduct(IDPretrainConfig(embed_dim=model.config.embed_dim), fmap)
            first = train_id_pretrain(stage1, data["train"], data["valid"],
                                      IDPretrainTrainConfig(lr=3e-3, epochs=8, seed=seed, keep_best=False))
            init_ranker_from(model, stage1)
            out["stage1_valid_loss"] = [round(h["InBatchLoss"], 4) for h in first.history]
        result = train_fields(model, data["train"], data["valid"],
                              FieldTrainConfig(max_epochs=4, patience=100, reduce_lr_on_plateau=False, seed=seed,
                                               threads=1))
        counts = np.bincount(data["train"]["item"].numpy(), minlength=fmap.entry("item").size)
        test = data["test"]
        rep = ctr_report(test["user"].numpy(), test["item"].numpy(), test["label"].numpy(), model.predict(test),
                         counts, cold_threshold=TAIL)
        return {**out, "valid_AUC_per_epoch": [round(h["AUC"], 5) for h in result.history],
                "best_epoch": result.best_epoch, "AUC": rep["overall"]["AUC"], "tail_AUC": rep["cold"]["AUC"],
                "tail_n": rep["cold"]["n"]}
    return run


def grid(runs: dict):
    return lambda seeds: [(name, seed, run) for name, run in runs.items() for seed in seeds]


CELLS = {
    "frappe_md": grid({name: md_run(name) for name in MD_MODELS}),
    "ml100k_md": grid({name: md_run(name) for name in MD_MODELS}),
    "frappe_dtrain": grid({mode: dtrain_run(mode) for mode in ("joint", "multi_head", "dtrain")}),
    "ml100k_dtrain": grid({mode: dtrain_run(mode) for mode in ("joint", "multi_head", "dtrain")}),
    "planted_dtrain": grid({mode: planted_dtrain_run(mode) for mode in ("joint", "multi_head", "dtrain")}),
    "planted_stem": grid({name: stem_run(name) for name in ("shared_bottom", "shared_bottom_x3", "stem")}),
    "one_epoch": grid({name: one_epoch_run(name) for name in ("dnn", "dcnv2", "dnn_pretrained")}),
    "ml100k_funnel": grid({name: funnel_run(name) for name in FUNNEL_MODELS}),
}


def ml100k_data():
    frames = ml100k_ctr_frames()
    return planted_data({k: v.drop(columns=[c for c in v.columns if c.startswith("hist_")]) for k, v in frames.items()},
                        ML100K_FIELDS)


def funnel_data():
    return planted_data(ml100k_funnel_frames(max_history=FUNNEL_HISTORY), FUNNEL_FIELDS)


def load(cell: str, splits: Path):
    """(feature map, {split: tensors}) of the cell's real data; None for the planted cells (they build their own)."""
    if cell == "ml100k_funnel":
        return funnel_data()
    if cell.startswith("frappe") or cell == "one_epoch":
        return frappe_data(splits)
    return ml100k_data() if cell.startswith("ml100k") else None


PLAN = [("planted_dtrain", [0, 1, 2]), ("one_epoch", [0]), ("frappe_md", [0]), ("frappe_dtrain", [0]),
        ("planted_stem", [0, 1, 2]), ("ml100k_md", [0]), ("ml100k_dtrain", [0]), ("frappe_md", [1, 2]),
        ("frappe_dtrain", [1, 2]), ("one_epoch", [1, 2]), ("ml100k_md", [1, 2]), ("ml100k_dtrain", [1, 2]),
        ("ml100k_funnel", [0, 1, 2])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cell", required=True, choices=sorted(CELLS) + ["all", "render"],
                    help="one cell, every cell in PLAN order (seed 0 first), or only rebuild the markdown")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--splits", type=Path, default=Path("/tmp/mmrec-frappe/seed0"))
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "zoo15")
    ap.add_argument("--budget-s", type=float, default=480.0, help="start no run after this many seconds")
    args = ap.parse_args()
    torch.set_num_threads(1)
    path = args.out.with_suffix(".json")
    store = json.loads(path.read_text()) if path.is_file() else {"platform": platform.platform(),
                                                                  "torch": torch.__version__, "cells": {}}
    plan = PLAN if args.cell == "all" else [] if args.cell == "render" else [(args.cell, args.seeds)]
    started, loaded = time.perf_counter(), {}
    for name_of_cell, seeds in plan:
        cell = store["cells"].setdefault(name_of_cell, {"runs": []})
        cell["command"] = f"flock /tmp/mmrec-heavy.lock python benchmarks/bench_zoo15.py --cell {name_of_cell}"
        done = {(r["model"], r["seed"]) for r in cell["runs"]}
        for name, seed, run in CELLS[name_of_cell](seeds):
            if (name, seed) in done:
                continue
            if time.perf_counter() - started > args.budget_s:
                print(f"budget spent: run --cell {args.cell} again to resume", flush=True)
                write_text(args.out.with_suffix(".md"), render(store))
                return
            source = name_of_cell.split("_")[0] if not name_of_cell.startswith("one") else "frappe"
            if source not in loaded:
                loaded[source] = load(name_of_cell, args.splits)
            tick = time.perf_counter()
            row = {"model": name, "seed": seed, **run(loaded[source], seed),
                   "seconds": round(time.perf_counter() - tick, 1)}
            cell["runs"].append(row)
            print(name_of_cell, json.dumps({k: v for k, v in row.items() if not isinstance(v, dict)}), flush=True)
            write_json(path, store)
    write_json(path, store)
    write_text(args.out.with_suffix(".md"), render(store))


def _by(cell: dict) -> dict[str, dict[int, dict]]:
    out: dict[str, dict[int, dict]] = {}
    for r in cell["runs"]:
        out.setdefault(r["model"], {})[r["seed"]] = r
    return out


def _ms(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    fmt = ".4f" if abs(np.mean(values)) >= 0.01 else ".3g"
    return (f"{np.mean(values):{fmt}} ± {np.std(values, ddof=1):{fmt}}" if len(values) > 1
            else f"{values[0]:{fmt}}")


def claim(runs: dict, better: str, worse: str, key, lower_is_better: bool = False, margin: float = 0.0) -> list:
    """Paired over shared seeds: Δ = better − worse (sign-flipped when lower is better); held when Δ > 2 std(Δ)
    (``margin`` < 0: "not worse than", held when Δ > margin − 2 std)."""
    get = key if callable(key) else (lambda r: r.get(key))
    seeds = sorted(set(runs.get(better, {})) & set(runs.get(worse, {})))
    diffs = [get(runs[better][s]) - get(runs[worse][s]) for s in seeds
             if get(runs[better][s]) is not None and get(runs[worse][s]) is not None]
    if len(diffs) < 2:
        return [f"{len(diffs)} seed(s)", "–", "n/a"]
    d = -np.array(diffs) if lower_is_better else np.array(diffs)
    two_std = 2 * d.std(ddof=1)
    held = d.mean() > margin + two_std if margin >= 0 else d.mean() > -two_std
    return [f"{np.mean(diffs):+.4g}", f"{two_std:.3g}", "held" if held else "not held"]


def md_table(title: str, cell: dict) -> list[str]:
    runs = _by(cell)
    domains = sorted({d for per in runs.values() for r in per.values() for d in r["domains"]})
    lines = [f"## {title}", "", f"`{cell['command']}`", "",
             "| model | AUC | GAUC | " + " | ".join(f"AUC {d} (n)" for d in domains)
             + " | worst AUC | worst GAUC | domain grad cos | epochs |",
             "|---" * (7 + len(domains)) + "|"]
    for name, per in runs.items():
        rs = list(per.values())
        cells = [f"{_ms([r['domains'].get(d, {}).get('AUC') for r in rs])} ({rs[0]['domains'].get(d, {}).get('n', 0)})"
                 for d in domains]
        lines.append(f"| {name} ({len(rs)} seeds) | {_ms([r['AUC'] for r in rs])} | {_ms([r['GAUC'] for r in rs])} | "
                     + " | ".join(cells) + f" | {_ms([r['worst_AUC'] for r in rs])} | "
                     f"{_ms([r['worst_GAUC'] for r in rs])} | {_ms([r.get('entanglement_mean_cos') for r in rs])} | "
                     f"{np.mean([r.get('epochs', 0) for r in rs]):.1f} |")
    return lines + [""]


def render(store: dict) -> str:
    cells = store["cells"]
    lines = ["# Zoo III (issue 15): multi-domain, multi-task, training strategies", "",
             f"One thread, {store['platform']}, torch {store['torch']}. Mean ± std over seeds; a claim is *held* "
             "when the paired (same-seed) difference exceeds 2 std of the differences. Frappe: the seeded 8:1:1 "
             "re-split, domain `homework`; ml-100k: the CTR events of `mmrec.data.ml100k_ctr` (flat fields, "
             "domain `age_domain`); `planted_*`: synthetic data where the mechanism is planted (generators in "
             "this script); `ml100k_funnel`: ml-100k's impression -> click -> conversion labels (below).", ""]
    claims = [["claim", "data", "Δ (mean)", "2 std", "verdict"], ["---"] * 5]
    for key, title in (("frappe_md", "Frappe `homework` domains"), ("ml100k_md", "ml-100k `age_domain` domains"),
                       ("frappe_dtrain", "D-Train on Frappe (shared-bottom backbone)"),
                       ("ml100k_dtrain", "D-Train on ml-100k (shared-bottom backbone)"),
                       ("planted_dtrain", "D-Train, planted: the small domain's clicks flipped (synthetic)")):
        if key in cells:
            lines += md_table(title, cells[key])
    for key in ("frappe_md", "ml100k_md"):
        runs = _by(cells.get(key, {"runs": []}))
        if "crocodile" in runs and "me_mmoe" in runs:
            lines += [f"Crocodile vs ME-MMoE ({key}): cross-set covariance "
                      f"{_ms([r['cross_cov'] for r in runs['crocodile'].values()])} vs "
                      f"{_ms([r['cross_cov'] for r in runs['me_mmoe'].values()])}; mean IA "
                      f"{_ms([r['IA'] for r in runs['crocodile'].values()])} vs "
                      f"{_ms([r['IA'] for r in runs['me_mmoe'].values()])}", ""]
            claims.append(["Crocodile lowers cross-expert covariance vs ME-MMoE", key,
                           *claim(runs, "crocodile", "me_mmoe", "cross_cov", lower_is_better=True)])
            claims.append(["Crocodile raises IA vs ME-MMoE", key, *claim(runs, "crocodile", "me_mmoe", "IA")])
            claims.append(["Crocodile does not lose GAUC vs ME-MMoE", key,
                           *claim(runs, "crocodile", "me_mmoe", "GAUC", margin=-1)])
            claims.append(["Crocodile: the worst (tail) domain gains vs ME-MMoE", key,
                           *claim(runs, "crocodile", "me_mmoe", "worst_AUC")])
    for key in ("frappe_dtrain", "ml100k_dtrain", "planted_dtrain"):
        runs = _by(cells.get(key, {"runs": []}))
        for other in ("joint", "multi_head"):
            if "dtrain" in runs and other in runs:
                claims.append([f"D-Train worst-domain AUC above {other}", key,
                               *claim(runs, "dtrain", other, "worst_AUC")])
    if "ml100k_funnel" in cells:
        cell = cells["ml100k_funnel"]
        runs = _by(cell)
        lines += ["## Multi-task CVR on the ml-100k funnel (impression -> click -> conversion)", "",
                  "`mmrec.data.ml100k_funnel`: each rated event is a clicked impression (conversion = rating >= 4) "
                  "beside one sampled unclicked impression (popularity among the user's unrated items). Flat fields of "
                  f"ml-100k (domain `age_domain` routes the shared-bottom towers); DHEN multi-task reads the last "
                  f"{FUNNEL_HISTORY} behaviours (item, category, rating) as a causal sequence token, the flat models "
                  "read no history. CVR AUC = conversion AUC among the clicked test impressions.", "",
                  f"`{cell['command']}`", "",
                  "| model | AUC click | AUC conversion | GAUC conversion | CVR AUC (clicked) | task gradient cos | "
                  "epochs |", "|---|---|---|---|---|---|---|"]
        for name, per in runs.items():
            rs = list(per.values())
            lines.append(f"| {name} ({len(rs)} seeds) | " + " | ".join(
                _ms([r[k] for r in rs]) for k in ("AUC_click", "AUC_conversion", "GAUC_conversion",
                                                  "CVR_AUC_clicked", "task_cos", "epochs")) + " |")
        lines.append("")
        claims.append(["the next-action auxiliary loss helps DHEN's conversion AUC", "ml100k_funnel",
                       *claim(runs, "dhen_multitask", "dhen_multitask_no_aux", "AUC_conversion")])
        claims.append(["STEM beats shared embeddings on the real funnel (conversion AUC)", "ml100k_funnel",
                       *claim(runs, "stem", "shared_bottom", "AUC_conversion")])
    if "planted_stem" in cells:
        cell = cells["planted_stem"]
        runs = _by(cell)
        lines += ["## STEM against shared embeddings, planted: two tasks on independent user / item cluster "
                  "partitions, embedding width 2; shared_bottom_x3 = width 6, STEM's embedding parameter count "
                  "(synthetic)", "", f"`{cell['command']}`", "",
                  "| model | AUC a | AUC b | mean AUC | task gradient cos (shared table) |", "|---|---|---|---|---|"]
        for name, per in runs.items():
            rs = list(per.values())
            lines.append(f"| {name} ({len(rs)} seeds) | {_ms([r['AUC_a'] for r in rs])} | "
                         f"{_ms([r['AUC_b'] for r in rs])} | {_ms([r['AUC'] for r in rs])} | "
                         f"{_ms([r['task_cos'] for r in rs])} |")
        lines.append("")
        claims.append(["STEM beats shared embeddings where tasks conflict", "planted_stem",
                       *claim(runs, "stem", "shared_bottom", "AUC")])
        claims.append(["… and shared embeddings of equal size (width 6)", "planted_stem",
                       *claim(runs, "stem", "shared_bottom_x3", "AUC")])
    if "one_epoch" in cells:
        cell = cells["one_epoch"]
        runs = _by(cell)
        lines += ["## The one-epoch phenomenon on Frappe (no early stopping, no lr decay, no embedding "
                  "regulariser; 4 epochs)", "", f"`{cell['command']}`", "",
                  "| model | valid AUC epoch 1..4 (mean over seeds) | best epoch | test AUC (best epoch) | "
                  f"tail-item test AUC (≤ {TAIL} train events; n) | stage-1 valid in-batch loss per epoch |",
                  "|---|---|---|---|---|---|"]
        for name, per in runs.items():
            rs = list(per.values())
            curve = np.mean([r["valid_AUC_per_epoch"] for r in rs], 0)
            stage1 = np.mean([r["stage1_valid_loss"] for r in rs], 0) if "stage1_valid_loss" in rs[0] else []
            lines.append(f"| {name} ({len(rs)} seeds) | {' → '.join(f'{v:.4f}' for v in curve)} | "
                         f"{np.mean([r['best_epoch'] + 1 for r in rs]):.1f} | {_ms([r['AUC'] for r in rs])} | "
                         f"{_ms([r['tail_AUC'] for r in rs])} ({rs[0]['tail_n']}) | "
                         f"{' → '.join(f'{v:.3f}' for v in stage1) or '–'} |")
        lines.append("")
        for name in ("dnn", "dcnv2"):
            if name in runs:
                fake = {"e1": {s: {"v": r["valid_AUC_per_epoch"][0]} for s, r in runs[name].items()},
                        "e2": {s: {"v": r["valid_AUC_per_epoch"][1]} for s, r in runs[name].items()}}
                claims.append([f"one-epoch phenomenon: {name}'s validation AUC falls in epoch 2", "one_epoch",
                               *claim(fake, "e1", "e2", "v")])
        if "dnn_pretrained" in runs and "dnn" in runs:
            claims.append(["stage-1 pre-trained DNN beats the plain DNN (test AUC)", "one_epoch",
                           *claim(runs, "dnn_pretrained", "dnn", "AUC")])
            claims.append(["… most on tail items (tail AUC gain)", "one_epoch",
                           *claim(runs, "dnn_pretrained", "dnn", "tail_AUC")])
            st = {"last": {s: {"v": r["stage1_valid_loss"][-1]} for s, r in runs["dnn_pretrained"].items()},
                  "best": {s: {"v": min(r["stage1_valid_loss"])} for s, r in runs["dnn_pretrained"].items()}}
            overfit = claim(st, "last", "best", "v")  # held there = the last epoch significantly above the best
            verdict = {"held": "not held", "not held": "held"}.get(overfit[2], overfit[2])
            claims.append(["stage 1 does not overfit across epochs (last − best valid in-batch loss)", "one_epoch",
                           *overfit[:2], verdict])
    lines += ["## Claims", ""] + ["| " + " | ".join(row) + " |" for row in claims]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

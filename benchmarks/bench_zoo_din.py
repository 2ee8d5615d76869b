"""ml-100k CTR on the feature layer: DIN, DIN + mm, Diff-MSIN and its SRC ablation (issues 17 and 18), test AUC /
LogLoss / cold-item AUC (targets with < 5 training events), mean ± std over seeds.

Events: :func:`mmrec.data.ml100k_ctr.ml100k_ctr_frames` (the ``ctr`` split kind's per-user time split), the fields
of ML100K_CTR_FIELDS.md (history read to the most recent 50 events, so the sequence is declared 50 long);
frozen content: an encode artifact's text.safetensors / image.safetensors (items without a poster have no image
row). Settings (issue 18): d = 64, max_history 50, up to 20 epochs, patience 2 on validation AUC, batch 1024,
lr 1e-3, one thread. Resumable: each (model, seed) cell is appended to the JSON as it finishes and skipped when
present, so a table is filled by several short jobs. Claims: DIN above the old CTRBatch path's 0.7697 (issue 17);
Diff-MSIN above DIN + mm by more than 2 std, more on cold items (METHODS.md §3).

    flock /tmp/mmrec-heavy.lock python benchmarks/bench_zoo_din.py --models zoo_din zoo_din_mm --seeds 0 \
        [--content /work/wt/content-ml100k] [--out benchmarks/results/zoo_din] [--max-cells N] [--report-only]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from mmrec import catalogue
from mmrec.core.io import write_json, write_text
from mmrec.data.ml100k_ctr import ml100k_ctr_frames
from mmrec.data.movielens import load_movielens_100k
from mmrec.data.download import locate
from mmrec.eval.ctr_metrics import auc
from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.train.fields import FieldTrainConfig, evaluate, seed_all, train_fields

OLD_DIN_AUC = 0.7697  # the CTRBatch path's DIN (issue 17)
COLD_THRESHOLD = 5
MODALITIES = ["text", "image"]
MODEL_SETTINGS = {"embed_dim": 64, "max_history": 50}
MODEL_EXTRA = {"zoo_din_mm": {"modalities": MODALITIES}, "zoo_diff_msin": {"modalities": MODALITIES},
               "zoo_diff_msin_no_src": {"modalities": MODALITIES}}
TRAIN = {"max_epochs": 20, "patience": 2, "batch_size": 1024, "lr": 1e-3, "threads": 1}
FIELDS = [
    {"name": "user", "type": "categorical"}, {"name": "age_band", "type": "categorical"},
    {"name": "age_domain", "type": "domain"}, {"name": "gender", "type": "categorical"},
    {"name": "occupation", "type": "categorical"}, {"name": "zip_prefix", "type": "categorical"},
    {"name": "item", "type": "categorical"}, {"name": "category", "type": "categorical"},
    {"name": "genres", "type": "multi_categorical"}, {"name": "year", "type": "numeric"},
    {"name": "when", "type": "context", "source": "timestamp", "parts": ["hour", "weekday"]},
    {"name": "text", "type": "embedding", "source": "item"}, {"name": "image", "type": "embedding", "source": "item"},
    {"name": "history", "type": "sequence", "max_len": 50,
     "vocabulary_of": {"hist_item": "item", "hist_category": "category"},
     "fields": [{"name": n, "type": "categorical"} for n in
                ("hist_item", "hist_category", "hist_rating", "hist_hour", "hist_weekday")]
     + [{"name": "hist_age", "type": "numeric"}]},
    {"name": "click", "type": "label"}]


def content_tables(directory: Path, item_ids: list[str]) -> tuple[dict, dict]:
    """Per modality: (item IDs having a vector, in table order; (n + 1, D) table with row 0 = none)."""
    ids, tables = {}, {}
    for name in MODALITIES:
        data = load_file(str(directory / f"{name}.safetensors"))
        emb, mask = data["embeddings"].float(), data["mask"].bool()
        if emb.shape[0] != len(item_ids) + 1:
            raise ValueError(f"{directory}/{name}.safetensors: {emb.shape[0]} rows, ml-100k has {len(item_ids)} items")
        keep = torch.nonzero(mask[1:]).flatten() + 1
        ids[name] = ([item_ids[i - 1] for i in keep.tolist()], emb.shape[1])
        tables[name] = torch.cat([torch.zeros(1, emb.shape[1]), emb[keep]])
    return ids, tables


def prepare(content: Path, train_rows: int = 0, valid_rows: int = 0) -> tuple[FeatureMap, dict, dict, dict]:
    """Feature map fitted on the (sub-sampled) training events, encoded splits, frozen tables, cold test mask.
    ``train_rows`` / ``valid_rows`` > 0 keep a seeded random subset of that many events (each keeps its history)."""
    tables = load_movielens_100k(locate("ml-100k"), text_fields=[], with_images=False)
    frames = ml100k_ctr_frames(tables)
    for name, rows in (("train", train_rows), ("valid", valid_rows)):
        if 0 < rows < len(frames[name]):
            frames[name] = frames[name].sample(rows, random_state=0).sort_index().reset_index(drop=True)
    item_ids = [str(i) for i in np.asarray(tables.items["item_id"])]
    ids, pretrained = content_tables(content, item_ids)
    fmap = FeatureMap.fit(parse_fields(FIELDS), frame_chunks(frames["train"]), ids)
    data = {name: fmap.encode(frame, name) for name, frame in frames.items()}
    counts = frames["train"]["item"].value_counts()
    cold = frames["test"]["item"].map(counts).fillna(0).to_numpy() < COLD_THRESHOLD
    return fmap, pretrained, data, {"cold": cold}


def run_cell(name: str, seed: int, fmap: FeatureMap, pretrained: dict, data: dict, cold: np.ndarray,
             settings: dict, train: dict) -> dict:
    spec = catalogue.lookup(name, task="fields")
    params = {**settings, **MODEL_EXTRA.get(name, {})}
    config = catalogue.model_config(name, params, f"bench.{name}")
    seed_all(seed)
    model = spec.model_class(config, fmap, pretrained)
    result = train_fields(model, data["train"], data["valid"], FieldTrainConfig(seed=seed, **train))
    test = evaluate(model, data["test"])
    labels = data["test"]["click"].numpy()
    probs = model.predict({k: v for k, v in data["test"].items() if k != "click"})
    return {"model": name, "seed": seed, "test_AUC": test["AUC"], "test_LogLoss": test["LogLoss"],
            "cold_AUC": auc(labels[cold], probs[cold]), "cold_events": int(cold.sum()),
            "valid_AUC": result.best_valid["AUC"], "best_epoch": result.best_epoch, "epochs": result.epochs,
            "fit_seconds": round(result.fit_seconds, 1), "train_events": int(data["train"]["click"].shape[0]),
            "valid_events": int(data["valid"]["click"].shape[0]), "settings": {**params, **train},
            "command": "flock /tmp/mmrec-heavy.lock python benchmarks/bench_zoo_din.py " + " ".join(sys.argv[1:])}


def summarise(cells: list[dict]) -> dict:
    out: dict[str, dict] = {}
    for name in dict.fromkeys(c["model"] for c in cells):
        rows = [c for c in cells if c["model"] == name]
        out[name] = {"seeds": [r["seed"] for r in rows]}
        for key in ("test_AUC", "test_LogLoss", "cold_AUC", "best_epoch"):
            values = np.array([r[key] for r in rows], dtype=float)
            std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            out[name][key] = {"mean": float(values.mean()), "std": std}
    return out


def verdict(summary: dict, a: str, b: str, key: str) -> str:
    """'held' when b's mean beats a's by more than 2 std (the larger), 'not held' otherwise."""
    if a not in summary or b not in summary:
        return "not measured"
    gap = summary[b][key]["mean"] - summary[a][key]["mean"]
    if min(len(summary[a]["seeds"]), len(summary[b]["seeds"])) < 2:
        return f"not testable with 1 seed (gap {gap:+.4f}, no std)"
    spread = 2 * max(summary[a][key]["std"], summary[b][key]["std"])
    return f"{'held' if gap > spread else 'not held'} (gap {gap:+.4f}, 2 std {spread:.4f})"


def old_din_claim(summary: dict) -> str:
    if "zoo_din" not in summary:
        return "not measured"
    mean, std = summary["zoo_din"]["test_AUC"]["mean"], summary["zoo_din"]["test_AUC"]["std"]
    word = "held" if mean - 2 * std > OLD_DIN_AUC else "not held"
    return f"{word} ({mean:.4f} ± {std:.4f} vs {OLD_DIN_AUC}; {len(summary['zoo_din']['seeds'])} seed(s))"


def report(cells: list[dict], out: Path) -> None:
    summary = summarise(cells)
    first = cells[0]
    setting = (f"{first['train_events']} training / {first['valid_events']} validation events (of 70,012 / 9,988), "
               f"all 20,000 test events; d = {first['settings']['embed_dim']}, max_history "
               f"{first['settings']['max_history']}, <= {first['settings']['max_epochs']} epochs, patience "
               f"{first['settings']['patience']} on validation AUC, batch {first['settings']['batch_size']}, lr "
               f"{first['settings']['lr']}, one thread")
    lines = ["# ml-100k CTR on the feature layer: DIN family and Diff-MSIN", "",
             f"{setting}; cold = test targets with < {COLD_THRESHOLD} training events. Commands (one job each, "
             "cells appended): " + "; ".join(f"`{c}`" for c in dict.fromkeys(c["command"] for c in cells)), "",
             "| model | seeds | test AUC | test LogLoss | cold AUC | best epoch |", "|---|---|---|---|---|---|"]
    for name, s in summary.items():
        lines.append(f"| {name} | {len(s['seeds'])} | {s['test_AUC']['mean']:.4f} ± {s['test_AUC']['std']:.4f} | "
                     f"{s['test_LogLoss']['mean']:.4f} ± {s['test_LogLoss']['std']:.4f} | "
                     f"{s['cold_AUC']['mean']:.4f} ± {s['cold_AUC']['std']:.4f} | {s['best_epoch']['mean']:.1f} |")
    claims = {"DIN above the old CTRBatch DIN (0.7697)": old_din_claim(summary),
              "Diff-MSIN > DIN + mm, test AUC": verdict(summary, "zoo_din_mm", "zoo_diff_msin", "test_AUC"),
              "Diff-MSIN > DIN + mm, cold AUC": verdict(summary, "zoo_din_mm", "zoo_diff_msin", "cold_AUC"),
              "SRC helps (Diff-MSIN > no-SRC), test AUC": verdict(summary, "zoo_diff_msin_no_src", "zoo_diff_msin",
                                                                  "test_AUC")}
    lines += ["", "| claim | result |", "|---|---|", *[f"| {k} | {v} |" for k, v in claims.items()]]
    write_json(out.with_suffix(".json"), {"cells": cells, "summary": summary, "claims": claims})
    write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["zoo_din", "zoo_din_mm", "zoo_diff_msin",
                                                        "zoo_diff_msin_no_src"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--content", type=Path, default=Path("/work/wt/content-ml100k"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/zoo_din"))
    parser.add_argument("--max-cells", type=int, default=0, help="stop after this many new cells (0: all)")
    parser.add_argument("--train-rows", type=int, default=0, help="seeded subset of the training events (0: all)")
    parser.add_argument("--valid-rows", type=int, default=0, help="seeded subset of the validation events (0: all)")
    parser.add_argument("--embed-dim", type=int, default=MODEL_SETTINGS["embed_dim"])
    parser.add_argument("--max-history", type=int, default=MODEL_SETTINGS["max_history"])
    parser.add_argument("--max-epochs", type=int, default=TRAIN["max_epochs"])
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    path = args.out.with_suffix(".json")
    cells = json.loads(path.read_text())["cells"] if path.is_file() else []
    settings = {"embed_dim": args.embed_dim, "max_history": args.max_history}
    train = {**TRAIN, "max_epochs": args.max_epochs}
    if any(c["settings"]["embed_dim"] != args.embed_dim or c["settings"]["max_history"] != args.max_history
           or c["settings"]["max_epochs"] != args.max_epochs for c in cells):
        raise SystemExit(f"{path} holds cells of other settings: use another --out")
    todo = [(m, s) for m in args.models for s in args.seeds
            if not any(c["model"] == m and c["seed"] == s for c in cells)]
    if todo and not args.report_only:
        start = time.perf_counter()
        fmap, pretrained, data, extra = prepare(args.content, args.train_rows, args.valid_rows)
        print(f"prepared in {time.perf_counter() - start:.0f} s", flush=True)
        for k, (name, seed) in enumerate(todo):
            if args.max_cells and k >= args.max_cells:
                break
            cells.append(run_cell(name, seed, fmap, pretrained, data, extra["cold"], settings, train))
            print(json.dumps({k: v for k, v in cells[-1].items() if k != "settings"}), flush=True)
            report(cells, args.out)
    if cells:
        report(cells, args.out)


if __name__ == "__main__":
    main()

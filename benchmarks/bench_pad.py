"""PAD on ml-100k: leave-one-out and new-items, several seeds, beside content k-NN and the ID-only backbone.

    MMREC_DATA=... python benchmarks/bench_pad.py --content-dir DIR [--seeds 0 1 2] [--out-dir D]
        [--split-option split.interaction_fraction=0.2] [--loss ce|bce] [--groups main no_mmd image concat llm]

DIR holds ``<modality>.safetensors`` (the encode stage's layout). Every model is tested once, with the weights
of its best validation epoch, by the shared evaluation (full ranking, history masked, cold bins; ties at the
expected rank). The backbone is the recipe-strength SASRec (``recipes/ml-100k-sasrec.yaml``: 2 blocks, windows
every 10 items, lr 2e-3, batch 64, early stopping patience 5); PAD's align and fine-tune phases use the same
budget rule (at most 60 epochs, patience 5). PAD's content expert reads ``--content-expert`` (default MiniLM text
+ TF-IDF) and its cold dropout is chosen on validation among ``--cold-dropout-search`` (``pad.stage``'s rule).
Work is cut into cells (split, seed, group of rows), each one process: the ``main`` group pre-trains the
backbone (the ``sasrec`` row and PAD's anchor, saved for the other groups), the two content k-NN rows (dense
text, TF-IDF), then ``pad`` and ``pad_uniform_gate`` (one shared tower); every other ablation is its own group.
A finished cell writes ``D/cells/*.json``, so a killed run resumes where it stopped; the table (mean ± std over
the seeds that finished) goes to stdout and ``D/bench_pad.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from mmrec.core.io import atomic_dir
from mmrec.data import load_tables
from mmrec.eval.config import EvalConfig
from mmrec.eval.evaluate import evaluate, ranking_cases
from mmrec.hub import load_model
from mmrec.models.content_knn import ContentKNN, ContentKNNConfig, tfidf_content
from mmrec.models.sasrec import SASRec, SASRecConfig
from mmrec.pad.config import PADConfig
from mmrec.pad.content import ContentCache
from mmrec.pad.stage import best_on_validation
from mmrec.pad.stage import rows as variants
from mmrec.pad.train import align, fit, train_pad
from mmrec.recipe import load_recipe
from mmrec.stages.prepare import build_splits
from mmrec.train.common import seed_everything
from mmrec.train.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]
# --strength recipe: the SASRec of recipes/ml-100k-sasrec.yaml (test NDCG@10 0.1076 +- 0.0058 on leave-one-out);
# --strength light: the earlier table's 1-block backbone on one window per user (8 steps per epoch), what a
# 3-seed table costs on a shared CPU; both stop early with patience 5 (PAD's phases too)
STRENGTHS = {
    "recipe": (SASRecConfig(dim=64, n_layers=2, n_heads=2, max_len=50, dropout=0.2),
               TrainConfig(epochs=60, batch_size=64, lr=2e-3, patience=5, loss="ce", window_stride=10, progress=False)),
    "light": (SASRecConfig(dim=64, n_layers=1, n_heads=2, max_len=50, dropout=0.2, ffn_mult=2),
              TrainConfig(epochs=60, batch_size=128, lr=1e-3, patience=5, loss="ce", window_stride=1000,
                          progress=False)),
}
TFIDF = ContentKNNConfig()  # recipes/ml-100k.yaml's content_knn: 4,096 words, min_df 2


def run_cell(split_name: str, seed: int, group: str, content_dir: str, settings: PADConfig, backbone: SASRecConfig,
             optim: TrainConfig, out_dir: str, split_options: list[str]) -> str:
    torch.set_num_threads(1)
    cell = Path(out_dir) / "cells" / f"{split_name}-seed{seed}-{group}.json"
    cfg = load_recipe(REPO / "recipes" / "ml-100k.yaml", [f"split.kinds=[{split_name}]", *split_options])
    tables = load_tables(cfg.data)
    split = build_splits(tables, cfg)[split_name]
    counts, test = split.item_train_counts(), ranking_cases(split, "test")
    available = {p.stem for p in Path(content_dir).glob("*.safetensors")} | {"tfidf"}
    cache = ContentCache(Path(content_dir), split.n_items, list(tables.items["text"]), TFIDF)

    def content_of(sources: list[str]) -> torch.Tensor:
        return cache([m for m in sources if m in available])

    out: dict[str, dict] = {}
    start = tick = time.perf_counter()
    anchor_dir = Path(out_dir) / "anchors" / f"{split_name}-seed{seed}"
    if anchor_dir.is_dir():  # trained by an earlier (killed or other-group) cell of this split and seed
        anchor = load_model(anchor_dir)
    else:
        seed_everything(seed)
        anchor = fit(SASRec(dataclasses.replace(backbone, n_items=split.n_items)), split, optim, seed)
        with atomic_dir(anchor_dir) as tmp:  # other cells load it once it is whole
            anchor.save_pretrained(tmp)
    if group == "main":
        out["content_knn"] = evaluate(ContentKNN(content_of(["text"])), test, counts, EvalConfig())
        tfidf = tfidf_content(list(tables.items["text"]), TFIDF.max_features, TFIDF.min_df)
        out["content_knn_tfidf"] = evaluate(ContentKNN(tfidf, TFIDF), test, counts, EvalConfig())
        out["sasrec"] = {**evaluate(anchor, test, counts, EvalConfig()), "train_seconds": time.perf_counter() - tick}
    rows = variants(settings)
    rows = {k: v for k, v in rows.items() if (k in ("pad", "pad_uniform_gate")) == (group == "main")
            and (group == "main" or k == f"pad_{group}")}
    tick = time.perf_counter()
    towers = {}
    for row, row_settings in rows.items():
        key = row_settings.tower_key()  # rows that differ only after alignment share one tower
        if key not in towers:
            towers[key] = align(anchor, content_of(row_settings.content), split, row_settings, optim, seed)
        expert = content_of(row_settings.content_expert_sources())
        # one fine-tune per cold dropout of the search, the best on validation kept (the pad stage's rule)
        model, searched = best_on_validation(
            [train_pad(anchor, towers[key], expert, split, c, optim, seed) for c in row_settings.candidates()],
            split, cfg)
        # train_seconds of a row: its fine-tunes plus its aligned tower when the row needed a new one
        out[row] = {**evaluate(model, test, counts, EvalConfig()), "train_seconds": time.perf_counter() - tick,
                    "cold_dropout": model.config.cold_dropout, "valid_NDCG@10_by_cold_dropout": searched,
                    "never_seen_share": model.config.never_seen_share}
        never_seen = torch.from_numpy(counts == 0) & (torch.arange(len(counts)) > 0)
        if never_seen.any() and row_settings.gate != "user":  # the gate's never-seen position after training
            out[row]["never_seen_gate_id_aligned_content"] = model.expert_weights()[never_seen].mean(0).tolist()
        print(f"{split_name} seed {seed} {row}: NDCG@10 {out[row]['overall']['NDCG@10']:.4f}", flush=True)
        tick = time.perf_counter()
    print(f"{split_name} seed {seed} {group} done in {time.perf_counter() - start:.0f}s", flush=True)
    cell.parent.mkdir(parents=True, exist_ok=True)
    cell.write_text(json.dumps(out, default=float))
    return str(cell)


def summarise(per_seed: list[dict]) -> dict:
    """Metrics across seeds -> {"mean", "std", "n"} (std with ddof = 1); target counts kept as they are."""
    def combine(values: list[float]) -> dict:
        arr = np.asarray(values, dtype=np.float64)
        return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, "n": len(arr)}

    first = per_seed[0]
    # a part with no targets (warm on new-items) carries no metrics in newer cells: keep the ones every seed has
    parts = [p for p in ("overall", "warm", "cold", "among_new") if all(p in r for r in per_seed)]
    out = {part: {m: first[part][m] if m == "n_targets" else combine([r[part][m] for r in per_seed])
                  for m in first[part] if all(m in r[part] for r in per_seed)} for part in parts}
    out["bins"] = [{m: row[m] if not m.startswith(("HR", "NDCG", "MRR")) else combine([r["bins"][b][m] for r in per_seed])
                    for m in row if all(m in r["bins"][b] for r in per_seed)} for b, row in enumerate(first["bins"])]
    if "train_seconds" in first:
        out["train_seconds"] = combine([r["train_seconds"] for r in per_seed])
    return out


def _cell(value) -> str:
    if isinstance(value, dict):
        return f"{value['mean']:.4f} ± {value['std']:.4f}"
    return f"{value:.4f}"


def table(results: dict[str, dict[str, dict]]) -> str:
    lines = ["| split | model | seeds | NDCG@10 | HR@10 | cold NDCG@10 (n) | never-seen bin NDCG@10 (n) "
             "| among new NDCG@10 |", "|---|---|---|---|---|---|---|---|"]
    for split_name, models in results.items():
        for name, r in models.items():
            bin0 = r["bins"][0]
            lines.append(f"| {split_name} | {name} | {','.join(map(str, r['seeds']))} | {_cell(r['overall']['NDCG@10'])} | {_cell(r['overall']['HR@10'])} "
                         f"| {_cell(r['cold']['NDCG@10'])} ({r['cold']['n_targets']}) "
                         f"| {_cell(bin0['NDCG@10']) if bin0['n_targets'] else '–'} ({bin0['n_targets']}) "
                         f"| {_cell(r['among_new']['NDCG@10']) if 'among_new' in r else '–'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--content-dir", required=True)
    parser.add_argument("--splits", nargs="+", default=["leave-one-out", "new-items"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--ablations", nargs="*", default=["uniform_gate", "no_mmd", "image", "llm", "concat"])
    parser.add_argument("--ablation-splits", nargs="*", default=["new-items"])
    parser.add_argument("--ablation-seeds", nargs="*", type=int, default=None, help="default: --seeds")
    parser.add_argument("--content-expert", nargs="+", default=["text", "tfidf"],
                        help="the content expert's sources (text, image, llm, tfidf)")
    parser.add_argument("--cold-dropout-search", nargs="+", type=float, default=[0.0, 0.1, 0.2],
                        help="fine-tune once per value, keep the best on validation NDCG@10")
    parser.add_argument("--align-epochs", type=int, default=60, help="cap; early stopping (patience 5) applies")
    parser.add_argument("--finetune-epochs", type=int, default=60, help="cap; early stopping (patience 5) applies")
    parser.add_argument("--strength", choices=sorted(STRENGTHS), default="recipe", help="backbone and its training")
    parser.add_argument("--loss", choices=["ce", "bce"], default="ce", help="of every training (bce: 1 sampled negative)")
    parser.add_argument("--split-option", nargs="*", default=[],
                        help="recipe overrides of the split, e.g. split.interaction_fraction=0.2 (the sparse setting)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=None, help="cap every training's epochs (smoke runs)")
    parser.add_argument("--out-dir", default="benchmarks/results/pad")
    parser.add_argument("--report-only", action="store_true", help="only aggregate the cells finished so far")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if "llm" in args.ablations and not (Path(args.content_dir) / "llm.safetensors").is_file():
        args.ablations = [a for a in args.ablations if a != "llm"]
        print("no llm.safetensors: the pad_llm row is skipped and pad_concat is text + image")
    settings = PADConfig(content=["text"], content_expert=args.content_expert, ablations=args.ablations,
                         cold_dropout_search=args.cold_dropout_search,
                         align_epochs=args.align_epochs, finetune_epochs=args.finetune_epochs)
    backbone, optim = STRENGTHS[args.strength]
    optim = dataclasses.replace(optim, loss=args.loss)
    if args.epochs is not None:
        optim = dataclasses.replace(optim, epochs=args.epochs)
        settings = dataclasses.replace(settings, align_epochs=args.epochs, finetune_epochs=args.epochs)
    ablation_seeds = args.seeds if args.ablation_seeds is None else args.ablation_seeds
    groups = [a for a in args.ablations if a != "uniform_gate"]
    cells = [(s, seed, "main") for seed in args.seeds for s in args.splits]
    cells += [(s, seed, g) for seed in ablation_seeds for g in groups for s in args.ablation_splits if s in args.splits]
    out_dir = Path(args.out_dir)
    todo = [] if args.report_only else [c for c in cells
                                        if not (out_dir / "cells" / f"{c[0]}-seed{c[1]}-{c[2]}.json").is_file()]
    main_settings = {s: settings if s in args.ablation_splits else dataclasses.replace(settings, ablations=[])
                     for s in args.splits}
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_cell, *c, args.content_dir, main_settings[c[0]], backbone, optim, str(out_dir),
                               args.split_option) for c in todo]
        for f in futures:
            f.result()
    wall = time.perf_counter() - start
    per_seed: dict[str, dict[str, list[dict]]] = {}
    for s, seed, group in cells:
        path = out_dir / "cells" / f"{s}-seed{seed}-{group}.json"
        if not path.is_file():
            continue  # not finished (report-only on a partial run): the row's seeds column says which ran
        for name, r in json.loads(path.read_text()).items():
            per_seed.setdefault(s, {}).setdefault(name, []).append({**r, "seed": seed})
    results = {s: {name: {**summarise(rs), "seeds": [r["seed"] for r in rs]} for name, rs in models.items()}
               for s, models in per_seed.items()}
    print(table(results))
    print(f"\nbackbone {backbone}; {optim}; split options {args.split_option}; this invocation's wall time "
          f"{wall:.0f}s ({len(todo)} of {len(cells)} cells run)")
    (out_dir / "bench_pad.json").write_text(json.dumps(
        {"wall_seconds": wall, "cells_run": len(todo), "cells": len(cells), "split_options": args.split_option,
         "strength": args.strength, "backbone": dataclasses.asdict(backbone),
         "optim": dataclasses.asdict(optim), "pad": dataclasses.asdict(settings), "results": results},
        indent=1, default=float))
    (out_dir / "table.md").write_text(table(results) + "\n")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()

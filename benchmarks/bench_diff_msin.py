"""Diff-MSIN vs DIN + the same multimodal embeddings vs Diff-MSIN without SRC on ml-100k CTR (overall and cold AUC).

    MMREC_DATA=... python benchmarks/bench_diff_msin.py --content-dir DIR [--models diff_msin,din_mm,diff_msin_no_src]
        [--seeds 0 1 2] [--out-dir benchmarks/results/diff_msin] [--report-only]
        [--set ctr.embed_dim=16 ...]

DIR holds ``text.safetensors`` / ``image.safetensors`` (the encode stage's layout). The split and features are
``recipes/ml-100k-ctr.yaml``'s (rating >= 4 a click, per-user time split 70 / 10 / 20), at the strength issue 18
asks for: d = 64, history 50, at most 20 epochs, early stopping on validation AUC with patience 2 (the best
epoch's weights are tested once). Each (model, seed) is one cell, written to ``D/cells/<model>-seed<s>.json`` when
it finishes, so a killed run resumes; the table (mean ± std over seeds, a difference counted only beyond 2 std)
goes to stdout, ``D/table.md`` and ``D/bench_diff_msin.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from mmrec import catalogue
from mmrec.core.modalities import load_modalities
from mmrec.core.seeds import aggregate_seeds
from mmrec.ctr.build import build_ctr_model
from mmrec.ctr.train import CTRTrainSettings, predict
from mmrec.data import load_tables
from mmrec.data.ctr_batches import build_ctr_samples
from mmrec.eval.ctr_metrics import ctr_report
from mmrec.recipe import load_recipe
from mmrec.stages.prepare import build_splits
from mmrec.train.common import seed_everything

REPO = Path(__file__).resolve().parents[1]
STRENGTH = ["ctr.embed_dim=64", "ctr.max_history=50", "ctr.max_epochs=20", "ctr.patience=2"]


def run_cell(name: str, seed: int, content_dir: str, out_dir: Path, overrides: list[str]) -> dict:
    torch.set_num_threads(1)
    cfg = load_recipe(REPO / "recipes" / "ml-100k-ctr.yaml", STRENGTH + overrides)
    tables = load_tables(cfg.data)
    split = build_splits(tables, cfg)["ctr"]
    c = cfg.ctr
    samples, spec = build_ctr_samples(split, tables, c.max_history, c.user_fields, c.genre_field)
    modalities = load_modalities(content_dir, c.modalities)
    seed_everything(seed)
    model = build_ctr_model(name, spec, modalities, c.shared_fields(), None, c.model_overrides.get(name, {}))
    settings = CTRTrainSettings(c.batch_size, c.eval_batch_size, c.lr, c.weight_decay, c.max_epochs, c.patience,
                                seed, progress=False)
    trained = catalogue.lookup(name).trainer(model, samples["train"], samples["valid"], settings, None)
    test = samples["test"]
    report = ctr_report(test.user.numpy(), test.item.numpy(), test.label.numpy(), predict(model, test),
                        split.item_train_counts(), cfg.eval.cold_threshold, cfg.eval.n_bins)
    out = {**report, "best_epoch": trained.best_epoch, "valid_auc": trained.best_valid_auc,
           "epochs_run": len(trained.epochs), "train_seconds": trained.train_seconds}
    path = out_dir / "cells" / f"{name}-seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, default=float))
    print(f"{name} seed {seed}: AUC {report['overall']['AUC']:.4f} cold {report['cold']['AUC']:.4f} "
          f"(best epoch {trained.best_epoch}, {trained.train_seconds:.0f}s)", flush=True)
    return out


def _cell(stat: dict | float) -> str:
    """mean ± std, or the value itself where every seed gave the same (aggregate_seeds keeps it as is)."""
    return f"{stat['mean']:.4f} ± {stat['std']:.4f}" if isinstance(stat, dict) else f"{stat:.4f}"


def verdict(a: dict, b: dict) -> str:
    """'held' when a - b exceeds 2 x the larger std (a wins), 'not held' otherwise, with the difference."""
    diff, noise = a["mean"] - b["mean"], 2 * max(a["std"], b["std"])
    return f"{diff:+.4f} ({'held' if diff > noise else 'not held'}, 2 std = {noise:.4f})"


def table(results: dict) -> str:
    lines = ["| model | seeds | AUC | GAUC | LogLoss | cold AUC (n) | warm AUC | best epoch |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {','.join(map(str, r['seeds']))} | {_cell(r['overall']['AUC'])} | "
                     f"{_cell(r['overall']['GAUC'])} | {_cell(r['overall']['LogLoss'])} | "
                     f"{_cell(r['cold']['AUC'])} ({r['cold']['n']}) | {_cell(r['warm']['AUC'])} | "
                     f"{_cell(r['best_epoch'])} |")
    if "diff_msin" in results:
        for other in ("din_mm", "diff_msin_no_src"):
            if other in results:
                for part in ("overall", "cold"):
                    lines.append(f"\ndiff_msin - {other}, {part} AUC: "
                                 f"{verdict(results['diff_msin'][part]['AUC'], results[other][part]['AUC'])}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--content-dir", required=True)
    parser.add_argument("--models", default="diff_msin,din_mm,diff_msin_no_src")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out-dir", type=Path, default=REPO / "benchmarks" / "results" / "diff_msin")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--set", dest="overrides", nargs="*", default=[],
                        help="recipe key=value overrides applied after the issue-18 strength ones")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    start, ran = time.perf_counter(), 0
    results = {}
    for name in args.models.split(","):
        runs, seeds = [], []
        for seed in args.seeds:
            path = args.out_dir / "cells" / f"{name}-seed{seed}.json"
            if path.is_file():
                runs.append(json.loads(path.read_text()))
            elif not args.report_only:
                runs.append(run_cell(name, seed, args.content_dir, args.out_dir, args.overrides))
                ran += 1
            else:
                continue
            seeds.append(seed)
        if runs:
            results[name] = {**aggregate_seeds(runs), "seeds": seeds}
    text = table(results)
    wall = time.perf_counter() - start
    print(text + f"\n\nthis invocation: {ran} cells in {wall:.0f}s")
    (args.out_dir / "table.md").write_text(text + "\n")
    (args.out_dir / "bench_diff_msin.json").write_text(json.dumps(
        {"strength": STRENGTH, "overrides": args.overrides, "wall_seconds": wall, "cells_run": ran,
         "results": results}, indent=1, default=float))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()

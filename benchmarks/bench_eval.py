"""Full-ranking evaluation time on ml-100k leave-one-out: all 943 test users, every item scored, history masked.

    MMREC_DATA=... python benchmarks/bench_eval.py [--threads 1] [--repeats 5] [--model DIR_OR_REPO_ID]

Times ``mmrec.eval.evaluate.evaluate`` (scoring, masking, ranking, metrics, bins) per model, median of
``--repeats``, as wall and process CPU seconds (CPU is the steadier figure on a shared machine). The neural
models' cost does not depend on their weights, so freshly built ones are timed unless ``--model`` names a saved
one (which then also shows its test NDCG@10). Writes ``benchmarks/results/eval_time.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from mmrec import catalogue
from mmrec.data import load_tables
from mmrec.eval.evaluate import evaluate, ranking_cases
from mmrec.hub import load_model
from mmrec.models.base import ModelData
from mmrec.recipe import load_recipe
from mmrec.stages.prepare import build_splits

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", help="a saved model (folder or repo id) to time in place of a fresh SASRec")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "eval_time.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_recipe(REPO / "recipes" / "ml-100k-sasrec.yaml", [])
    tables = load_tables(cfg.data)
    split = build_splits(tables, cfg)["leave-one-out"]
    cases, counts = ranking_cases(split, "test"), split.item_train_counts()
    data = ModelData(split.n_items, split.train, list(tables.items["text"]))
    models = {name: catalogue.build(name, catalogue.lookup(name).config_class(), data)
              for name in ("popularity", "content_knn", "sasrec", "gru4rec")}
    if args.model:
        models["sasrec"] = load_model(args.model)
    rows = {}
    for name, model in models.items():
        walls, cpus = [], []
        for _ in range(args.repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            result = evaluate(model, cases, counts, cfg.eval)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        rows[name] = {"wall_seconds": statistics.median(walls), "cpu_seconds": statistics.median(cpus),
                      "NDCG@10": result["overall"]["NDCG@10"]}
        print(f"{name:12} {len(cases.targets)} users: wall {rows[name]['wall_seconds']:.3f} s, "
              f"process CPU {rows[name]['cpu_seconds']:.3f} s (NDCG@10 {rows[name]['NDCG@10']:.4f})")
    args.out.write_text(json.dumps({"threads": args.threads, "repeats": args.repeats, "n_users": len(cases.targets),
                                    "n_items": split.n_items, "model": args.model, "loadavg": os.getloadavg(),
                                    "models": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()

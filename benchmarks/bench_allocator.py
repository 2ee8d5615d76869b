"""What keeping freed memory in the process (``mmrec.core.allocator``) buys: SASRec training steps and evaluation.

    MMREC_DATA=... python benchmarks/bench_allocator.py [--repeats 3] [--steps 40]

Each measurement runs in a fresh process, alternately with the allocator setting applied and opted out
(``MMREC_KEEP_FREED_MEMORY=0``), 1 torch thread: ``--steps`` SASRec training steps on ml-100k (the
``ml-100k-sasrec.yaml`` model, batches of 128 windows of 50 items, full-softmax CE, AdamW), then ``evaluate`` of
the 943 test users at 128 and 1,024 users per chunk; process CPU seconds, median over ``--repeats``, with the
minor page faults of the training steps. Writes ``benchmarks/results/allocator.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def worker(steps: int) -> dict:
    from mmrec.core.allocator import keep_freed_memory

    applied = keep_freed_memory()
    import numpy as np
    import torch

    from mmrec import catalogue
    from mmrec.core.sequences import left_pad
    from mmrec.data import load_tables
    from mmrec.eval.evaluate import evaluate, ranking_cases
    from mmrec.models.base import ModelData
    from mmrec.recipe import load_recipe
    from mmrec.stages.prepare import build_splits
    from mmrec.train.losses import full_softmax_ce

    torch.set_num_threads(1)
    cfg = load_recipe(REPO / "recipes" / "ml-100k-sasrec.yaml", [])
    tables = load_tables(cfg.data)
    split = build_splits(tables, cfg)["leave-one-out"]
    torch.manual_seed(0)
    model = catalogue.build("sasrec", catalogue.lookup("sasrec").config_class(), ModelData(split.n_items, split.train))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    sequences = [s for s in split.train if len(s) > 2]
    windows = [left_pad([sequences[i][-51:] for i in rng.integers(0, len(sequences), 128)], 51) for _ in range(steps)]

    def train() -> None:
        model.train()
        for w in windows:
            loss = full_softmax_ce(model(w[:, :-1]), w[:, 1:], model.item_repr)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    train()  # warm-up: the first pass allocates whatever the allocator keeps
    faults, cpu = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.process_time()
    train()
    out = {"applied": applied, "train_cpu_seconds": time.process_time() - cpu,
           "train_minor_faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults}
    cases, counts = ranking_cases(split, "test"), split.item_train_counts()
    for chunk in (128, 1024):
        settings = dataclasses.replace(cfg.eval, batch_size=chunk)
        evaluate(model, cases, counts, settings)
        cpu = time.process_time()
        evaluate(model, cases, counts, settings)
        out[f"eval_cpu_seconds_chunk{chunk}"] = time.process_time() - cpu
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "allocator.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.steps)))
        return
    runs: dict[str, list[dict]] = {"kept": [], "opted_out": []}
    for _ in range(args.repeats):
        for name, value in (("kept", "1"), ("opted_out", "0")):
            env = {**os.environ, "MMREC_KEEP_FREED_MEMORY": value, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
            env.pop("MALLOC_MMAP_MAX_", None)
            env.pop("MALLOC_TRIM_THRESHOLD_", None)
            out = subprocess.run([sys.executable, __file__, "--worker", "--steps", str(args.steps)], env=env,
                                 check=True, capture_output=True, text=True).stdout
            runs[name].append(json.loads(out.strip().splitlines()[-1]))
    keys = [k for k in runs["kept"][0] if k != "applied"]
    summary = {name: {k: statistics.median(r[k] for r in rows) for k in keys} for name, rows in runs.items()}
    print(f"median of {args.repeats} fresh processes, 1 thread; {args.steps} SASRec steps, evaluate() of 943 users")
    print(f"{'':12}" + "".join(f"{k:>28}" for k in keys))
    for name, row in summary.items():
        print(f"{name:12}" + "".join(f"{row[k]:28.3f}" for k in keys))
    speedup = {k: summary["opted_out"][k] / summary["kept"][k] for k in keys if "seconds" in k}
    print("opted out / kept: " + ", ".join(f"{k} {v:.2f}x" for k, v in speedup.items()))
    args.out.write_text(json.dumps({"repeats": args.repeats, "steps": args.steps, "loadavg": os.getloadavg(),
                                    "runs": runs, "median": summary, "speedup": speedup}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

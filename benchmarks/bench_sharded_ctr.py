"""Sharded CTR tables (TorchRec, gloo on CPU): 1 process vs 2 processes, table-wise and row-wise, 3 seeds on the
whole Frappe re-split (zoo DNN, embedding 8, MLP 200 x 200; the tables train with fused Adagrad, the MLP with
Adam, in every run).

    make torchrec && MMREC_DATA=../shared/datasets python benchmarks/bench_sharded_ctr.py [--seeds 0 1 2]

Writes benchmarks/results/sharded_ctr.{json,md}: test AUC / LogLoss mean ± std per (processes, sharding), and
training throughput (global samples / s of the optimiser steps, 1 thread per process).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from mmrec.core.seeds import aggregate_seeds

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / "tests" / "distributed" / "sharded_worker.py"
OUT = REPO / "benchmarks" / "results"


def run(world: int, seed: int, epochs: int, tmp: Path) -> dict:
    out = tmp / f"w{world}-s{seed}.json"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={world}",
                    str(WORKER), str(out), "0", str(epochs), "4096", str(seed)], env=env, check=True,
                   capture_output=True)
    return json.loads(out.read_text())["runs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    cells: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for world in (1, 2):
                for sharding, result in run(world, seed, args.epochs, Path(tmp)).items():
                    cells.setdefault(f"{world} process(es), {sharding}", []).append(result)
                    print(world, sharding, seed, result["test"], int(result["samples_per_s"]), flush=True)
    table = {name: {"AUC": aggregate_seeds([r["test"]["AUC"] for r in runs]),
                    "LogLoss": aggregate_seeds([r["test"]["LogLoss"] for r in runs]),
                    "samples_per_s": aggregate_seeds([r["samples_per_s"] for r in runs]),
                    "best_epoch": aggregate_seeds([float(r["best_epoch"]) for r in runs])} for name, runs in cells.items()}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "sharded_ctr.json").write_text(json.dumps({"seeds": args.seeds, "table": table, "runs": cells}, indent=1))
    lines = ["| run | test AUC | test LogLoss | best epoch | samples / s |", "|---|---|---|---|---|"]
    for name, row in table.items():
        lines.append(f"| {name} | {row['AUC']['mean']:.4f} ± {row['AUC']['std']:.4f} | "
                     f"{row['LogLoss']['mean']:.4f} ± {row['LogLoss']['std']:.4f} | "
                     f"{row['best_epoch']['mean']:.1f} | {row['samples_per_s']['mean']:,.0f} |")
    (OUT / "sharded_ctr.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""mmrec vs FuxiCTR 2.3.10 side by side: DeepFM and DCNv2 on the same Frappe train / valid / test files, the same
settings, 3 seeds, one thread each; test AUC on both sides and training throughput measured in this invocation.

Throughput = epochs x training rows / fit wall time, validation included, on both sides. FuxiCTR runs in its own
virtualenv (``benchmarks/fuxictr_side.py``; install per ../shared/peers/fuxictr/README.md) on its own encoding of
the same CSV files (its npz loader, ``num_workers`` 0). Targets: our AUC >= FuxiCTR's - 0.001; our throughput
>= 2x FuxiCTR's.

    flock /tmp/mmrec-heavy.lock python benchmarks/bench_fuxictr.py [--seeds 0 1 2] [--models deepfm,dcnv2]
        [--fuxictr-python /tmp/fuxictr-venv/bin/python] [--zoo /tmp/fuxictr-zoo] [--out benchmarks/results/fuxictr]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from bench_frappe import SETTINGS, frappe_data, run_one

from mmrec.core.io import write_json, write_text

REPO = Path(__file__).resolve().parents[1]
FUXI_NAMES = {"deepfm": "DeepFM", "dcnv2": "DCNv2"}


def fuxictr_params(name: str, max_epochs: int) -> dict:
    """SETTINGS[name] in FuxiCTR's parameter names (its model-zoo classes' arguments)."""
    model, train = SETTINGS[name]
    common = {"epochs": max_epochs, "batch_size": 4096, "learning_rate": train.get("lr", 1e-3),
              "embedding_dim": model.get("embed_dim", 10), "embedding_regularizer": model["embedding_regularizer"],
              "net_regularizer": 0, "early_stop_patience": 2, "net_dropout": model["dropout"],
              "batch_norm": model["batch_norm"]}
    if name == "deepfm":
        return {**common, "hidden_units": model["hidden_units"], "hidden_activations": "relu"}
    return {**common, "model_structure": "parallel", "use_low_rank_mixture": False, "low_rank": 32, "num_experts": 4,
            "num_cross_layers": model["cross_layers"], "parallel_dnn_hidden_units": model["hidden_units"],
            "stacked_dnn_hidden_units": model["hidden_units"], "dnn_activations": "relu"}


def run_fuxictr(name: str, seeds: list[int], splits: Path, args: argparse.Namespace) -> list[dict]:
    command = [args.fuxictr_python, str(REPO / "benchmarks" / "fuxictr_side.py"), "--data", str(splits), "--work",
               str(args.work), "--zoo", str(args.zoo), "--model", FUXI_NAMES[name], "--seeds", *map(str, seeds),
               "--params", json.dumps(fuxictr_params(name, args.max_epochs))]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_TMPDIR": str(args.work / "ray"), "PYTHONPATH": ""}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"side": "fuxictr"')]
    if done.returncode or len(rows) != len(seeds):
        raise RuntimeError(f"FuxiCTR side failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return rows


def stats(values: list[float]) -> dict:
    return {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--models", default="deepfm,dcnv2")
    ap.add_argument("--splits", type=Path, default=Path("/tmp/mmrec-frappe/seed0"))
    ap.add_argument("--max-epochs", type=int, default=100)
    ap.add_argument("--fuxictr-python", default="/tmp/fuxictr-venv/bin/python")
    ap.add_argument("--zoo", type=Path, default=Path("/tmp/fuxictr-zoo"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/mmrec-fuxictr-work"))
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "fuxictr")
    args = ap.parse_args()
    torch.set_num_threads(1)
    feature_map, data = frappe_data(args.splits)
    rows, summary = [], {}
    for name in args.models.split(","):
        ours = [run_one(name, seed, feature_map, data, args.max_epochs) for seed in args.seeds]
        theirs = run_fuxictr(name, args.seeds, args.splits, args)
        for row in ours + theirs:
            row.setdefault("side", "mmrec")
            print(json.dumps(row), flush=True)
        rows += ours + theirs
        s = {side: {m: stats([r[m] for r in runs]) for m in ("test_AUC", "test_LogLoss", "epochs", "samples_per_s")}
             for side, runs in (("mmrec", ours), ("fuxictr", theirs))}
        s["auc_target_met"] = s["mmrec"]["test_AUC"]["mean"] >= s["fuxictr"]["test_AUC"]["mean"] - 0.001
        s["throughput_ratio"] = s["mmrec"]["samples_per_s"]["mean"] / s["fuxictr"]["samples_per_s"]["mean"]
        s["throughput_target_met"] = s["throughput_ratio"] >= 2.0
        summary[name] = s
    seeds = " ".join(map(str, args.seeds))
    command = (f"flock /tmp/mmrec-heavy.lock python benchmarks/bench_fuxictr.py --seeds {seeds}"
               f" --models {args.models} --max-epochs {args.max_epochs}")
    write_json(args.out.with_suffix(".json"), {"command": command, "platform": platform.platform(),
                                               "python": sys.version.split()[0], "torch": torch.__version__,
                                               "settings": {n: fuxictr_params(n, args.max_epochs) for n in summary},
                                               "runs": rows, "summary": summary})
    lines = ["# mmrec vs FuxiCTR 2.3.10 on the Frappe re-split (1 thread each, same files, same settings)", "",
             f"`{command}`", "",
             "| model | side | test AUC | test LogLoss | epochs | samples/s |", "|---|---|---|---|---|---|"]
    for name, s in summary.items():
        for side in ("mmrec", "fuxictr"):
            t = s[side]
            lines.append(f"| {name} | {side} | {t['test_AUC']['mean']:.4f} ± {t['test_AUC']['std']:.4f} | "
                         f"{t['test_LogLoss']['mean']:.4f} ± {t['test_LogLoss']['std']:.4f} | "
                         f"{t['epochs']['mean']:.1f} | {t['samples_per_s']['mean']:,.0f} |")
    lines += ["", "| model | AUC ≥ FuxiCTR − 0.001 | throughput ratio | ≥ 2x |", "|---|---|---|---|"]
    lines += [f"| {n} | {'yes' if s['auc_target_met'] else 'no'} | {s['throughput_ratio']:.2f} | "
              f"{'yes' if s['throughput_target_met'] else 'no'} |" for n, s in summary.items()]
    write_text(args.out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

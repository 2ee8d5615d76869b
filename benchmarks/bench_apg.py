"""APG-DNN against its DNN backbone on the Frappe re-split: training samples/s for one epoch and inference
samples/s (APG unmerged and merged), one thread, one invocation, so the ratios compare like with like.

APG's paper claims lower time and memory than a regular deep CTR model; this measures the time side here. Both
models use bench_frappe's DNN tower (3 x 200, BN, dropout 0.2); APG at FuxiCTR's YAML defaults (K 8, P 64,
hypernet [64, 32]), self-wise and group-wise on the ``homework`` domain field.

    flock /tmp/mmrec-heavy.lock python benchmarks/bench_apg.py [--splits /tmp/mmrec-frappe/seed0]
        [--out benchmarks/results/apg]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from bench_frappe import DEEP, REPO, frappe_data
from mmrec.core.io import write_json, write_text
from mmrec.models.zoo.apg import APGDNN, APGConfig
from mmrec.models.zoo.dnn import DNN, DNNConfig
from mmrec.train.fields import FieldTrainConfig, evaluate, seed_all, train_fields

VARIANTS = {
    "dnn": lambda fmap: DNN(DNNConfig(**DEEP), fmap),
    "apg_dnn_self": lambda fmap: APGDNN(APGConfig(**DEEP), fmap),
    "apg_dnn_group": lambda fmap: APGDNN(APGConfig(**DEEP, condition_mode="group", condition_fields=["homework"]),
                                         fmap),
}


def inference_rate(model, data, repeats: int = 3) -> float:
    """Test rows scored per second (best of ``repeats``)."""
    n = next(iter(data.values())).shape[0]
    best = float("inf")
    for _ in range(repeats):
        tick = time.perf_counter()
        evaluate(model, data)
        best = min(best, time.perf_counter() - tick)
    return n / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", type=Path, default=Path("/tmp/mmrec-frappe/seed0"))
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "apg")
    args = ap.parse_args()
    torch.set_num_threads(1)
    feature_map, data = frappe_data(args.splits)
    n_train = next(iter(data["train"].values())).shape[0]
    rows = []
    for name, build in VARIANTS.items():
        seed_all(0)
        model = build(feature_map)
        result = train_fields(model, data["train"], data["valid"], FieldTrainConfig(max_epochs=1, threads=1))
        row = {"model": name, "params": sum(p.numel() for p in model.parameters()),
               "valid_AUC_1_epoch": result.best_valid["AUC"], "train_samples_per_s": n_train / result.train_seconds,
               "infer_samples_per_s": inference_rate(model, data["test"])}
        if isinstance(model, APGDNN):
            model.merge()
            row["merged_params"] = sum(p.numel() for p in model.parameters())
            row["merged_infer_samples_per_s"] = inference_rate(model, data["test"])
        rows.append(row)
        print(row, flush=True)
    base = rows[0]
    lines = ["# APG-DNN against DNN on Frappe, one epoch, one thread", "",
             "| model | params | valid AUC (1 epoch) | train samples/s | × DNN | infer samples/s | merged infer "
             "samples/s | merged params |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['params']:,} | {r['valid_AUC_1_epoch']:.4f} | "
                     f"{r['train_samples_per_s']:,.0f} | {r['train_samples_per_s'] / base['train_samples_per_s']:.2f} "
                     f"| {r['infer_samples_per_s']:,.0f} | {r.get('merged_infer_samples_per_s', 0):,.0f} | "
                     f"{r.get('merged_params', r['params']):,} |")
    command = f"flock /tmp/mmrec-heavy.lock python benchmarks/bench_apg.py --splits {args.splits} --out {args.out}"
    write_json(args.out.with_suffix(".json"), {"command": command, "platform": platform.platform(),
                                               "torch": torch.__version__, "runs": rows})
    write_text(args.out.with_suffix(".md"), "\n".join(lines + ["", f"`{command}`"]) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

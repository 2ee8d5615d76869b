"""Where one training epoch of a zoo model spends its time on Frappe (torch profiler, one thread): the op table.

    python benchmarks/profile_fields.py [--model deepfm] [--rows 12] [--out benchmarks/results/profile_deepfm.txt]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from bench_frappe import SETTINGS, frappe_data

from mmrec import catalogue
from mmrec.core.io import write_text
from mmrec.train.fields import FieldTrainConfig, seed_all, train_fields

MODELS = {spec.name.removeprefix("zoo_"): (spec.model_class, spec.config_class) for spec in catalogue.rows("fields")}

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="deepfm")
    ap.add_argument("--rows", type=int, default=12)
    ap.add_argument("--splits", type=Path, default=Path("/tmp/mmrec-frappe/seed0"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    feature_map, data = frappe_data(args.splits)
    model_overrides, train_overrides = SETTINGS[args.model]
    cls, config_cls = MODELS[args.model]
    seed_all(0)
    model = cls(config_cls(**model_overrides), feature_map)
    with torch.profiler.profile() as prof:
        result = train_fields(model, data["train"], data["valid"],
                              FieldTrainConfig(max_epochs=1, threads=1, **train_overrides))
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows)
    text = (f"{args.model}: one epoch, {result.samples_per_s:,.0f} samples/s (profiler on), "
            f"steps {result.train_seconds:.2f} s of {result.fit_seconds:.2f} s\n{table}\n")
    print(text)
    write_text(args.out or REPO / "benchmarks" / "results" / f"profile_{args.model}.txt", text)


if __name__ == "__main__":
    main()

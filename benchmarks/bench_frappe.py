"""Frappe, the five baselines (LR, FM, DNN, DeepFM, DCNv2), 3 seeds: test AUC / LogLoss mean ± std, and whether
the BARS leaderboard's ordering LR < FM < DNN ≤ DeepFM ≈ DCNv2 holds on our seeded 8:1:1 re-split.

"<" holds when the later model's mean test AUC exceeds the earlier one's by more than 2 std (the larger of the
two); "≤" when it is not lower by more than 2 std; "≈" when they differ by at most 2 std. Settings: BARS
(embedding 10, batch 4096, lr 1e-3, early stopping on validation AUC, patience 2, lr / 10 on a plateau), with
the per-model choices in ``SETTINGS`` (chosen on validation AUC only). One thread.

    flock /tmp/mmrec-heavy.lock python benchmarks/bench_frappe.py [--seeds 0 1 2] [--models lr,fm,dnn,deepfm,dcnv2]
        [--splits /tmp/mmrec-frappe/seed0] [--reuse benchmarks/results/fuxictr.json] [--out benchmarks/results/frappe]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import numpy as np
import torch
import yaml

from mmrec import catalogue
from mmrec.core.io import write_json, write_text
from mmrec.data.frappe import SPLITS, write_splits
from mmrec.features import encode_splits, parse_fields
from mmrec.train.fields import FieldTrainConfig, evaluate, seed_all, train_fields

MODELS = {spec.name.removeprefix("zoo_"): (spec.model_class, spec.config_class) for spec in catalogue.rows("fields")}

REPO = Path(__file__).resolve().parents[1]
# the MLP is 3 x 200 (BARS tunes 3 x 400 on 3.3x more rows; 200 keeps 15 seeded runs per side in budget here)
DEEP = {"hidden_units": [200, 200, 200], "dropout": 0.2, "batch_norm": True, "embedding_regularizer": 0.05}
SETTINGS: dict[str, tuple[dict, dict]] = {  # model -> (model config overrides, trainer overrides)
    "lr": ({"embedding_regularizer": 0.0}, {"lr": 1e-2}),
    "fm": ({"embedding_regularizer": 0.0}, {"lr": 1e-2}),
    "dnn": (DEEP, {}),
    "deepfm": (DEEP, {}),
    "dcnv2": ({**DEEP, "cross_layers": 3}, {}),
}
ORDER = [("lr", "<", "fm"), ("fm", "<", "dnn"), ("dnn", "≤", "deepfm"), ("deepfm", "≈", "dcnv2")]


def frappe_data(splits: Path, seed: int = 0):
    """The re-split files (written once from $MMREC_DATA/frappe) and their encoding under recipes/frappe.yaml."""
    if not all((splits / f"{s}.csv").is_file() for s in SPLITS):
        write_splits(Path(os.environ.get("MMREC_DATA", REPO.parent / "shared" / "datasets")) / "frappe", splits, seed)
    fields = parse_fields(yaml.safe_load((REPO / "recipes" / "frappe.yaml").read_text())["features"],
                          "recipes/frappe.yaml: features")
    return encode_splits(fields, {s: splits / f"{s}.csv" for s in SPLITS})


def run_one(name: str, seed: int, feature_map, data, max_epochs: int, extra: dict | None = None) -> dict:
    model_overrides, train_overrides = SETTINGS[name]
    model_overrides = {**model_overrides, **(extra or {})}
    cls, config_cls = MODELS[name]
    seed_all(seed)
    model = cls(config_cls(**model_overrides), feature_map)
    result = train_fields(model, data["train"], data["valid"],
                          FieldTrainConfig(seed=seed, max_epochs=max_epochs, threads=1, **train_overrides))
    test = evaluate(model, data["test"])
    return {"model": name, "seed": seed, "test_AUC": test["AUC"], "test_LogLoss": test["LogLoss"],
            "valid_AUC": result.best_valid["AUC"], "best_epoch": result.best_epoch, "epochs": result.epochs,
            "fit_seconds": result.fit_seconds, "samples_per_s": result.samples_per_s,
            "settings": {**model_overrides, **train_overrides}}


def summarise(rows: list[dict]) -> dict:
    out = {}
    for name in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == name]
        out[name] = {m: {"mean": float(np.mean([r[m] for r in mine])),
                         "std": float(np.std([r[m] for r in mine], ddof=1)) if len(mine) > 1 else 0.0}
                     for m in ("test_AUC", "test_LogLoss", "valid_AUC", "epochs", "samples_per_s")}
        out[name]["n"] = len(mine)
    return out


def ordering(summary: dict) -> list[dict]:
    checks = []
    for a, rel, b in ORDER:
        if a not in summary or b not in summary:
            continue
        sa, sb = summary[a]["test_AUC"], summary[b]["test_AUC"]
        diff, tol = sb["mean"] - sa["mean"], 2 * max(sa["std"], sb["std"])
        held = diff > tol if rel == "<" else (diff >= -tol if rel == "≤" else abs(diff) <= tol)
        checks.append({"claim": f"{a} {rel} {b}", "diff": diff, "two_std": tol, "held": bool(held)})
    return checks


def markdown(summary: dict, checks: list[dict], command: str) -> str:
    lines = ["# Frappe (seeded 8:1:1 re-split of the x1 valid + test parts), 3 seeds", "", f"`{command}`", "",
             "| model | test AUC | test LogLoss | valid AUC | epochs | samples/s (1 thread) |",
             "|---|---|---|---|---|---|"]
    for name, s in summary.items():
        lines.append(f"| {name} | {s['test_AUC']['mean']:.4f} ± {s['test_AUC']['std']:.4f} | "
                     f"{s['test_LogLoss']['mean']:.4f} ± {s['test_LogLoss']['std']:.4f} | "
                     f"{s['valid_AUC']['mean']:.4f} | {s['epochs']['mean']:.1f} | {s['samples_per_s']['mean']:,.0f} |")
    lines += ["", "| BARS ordering | ΔAUC | 2 std | held |", "|---|---|---|---|"]
    lines += [f"| {c['claim']} | {c['diff']:+.4f} | {c['two_std']:.4f} | {'yes' if c['held'] else 'no'} |"
              for c in checks]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--models", default="lr,fm,dnn,deepfm,dcnv2")
    ap.add_argument("--splits", type=Path, default=Path("/tmp/mmrec-frappe/seed0"))
    ap.add_argument("--max-epochs", type=int, default=100)
    ap.add_argument("--reuse", type=Path, default=None,
                    help="a bench_fuxictr.py results JSON: its mmrec rows (same files, settings and seeds) join the "
                         "table for the models it ran, so they are not trained twice")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "frappe")
    args = ap.parse_args()
    torch.set_num_threads(1)
    feature_map, data = frappe_data(args.splits)
    rows = []
    if args.reuse is not None:
        reused = [r for r in json.loads(args.reuse.read_text())["runs"] if r.get("side") == "mmrec"
                  and r["seed"] in args.seeds]
        rows += [{**r, "reused_from": str(args.reuse.name)} for r in reused]
    for name in args.models.split(","):
        for seed in args.seeds:
            rows.append(run_one(name, seed, feature_map, data, args.max_epochs))
            print(json.dumps(rows[-1]), flush=True)
    rank = {name: i for i, name in enumerate(SETTINGS)}
    rows.sort(key=lambda r: (rank[r["model"]], r["seed"]))
    summary = summarise(rows)
    checks = ordering(summary)
    command = "flock /tmp/mmrec-heavy.lock python benchmarks/bench_frappe.py " + " ".join(
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in vars(args).items() if v is not None)
    write_json(args.out.with_suffix(".json"), {"command": command, "platform": platform.platform(),
                                               "torch": torch.__version__, "runs": rows, "summary": summary,
                                               "ordering": checks})
    write_text(args.out.with_suffix(".md"), markdown(summary, checks, command))
    print(markdown(summary, checks, command))


if __name__ == "__main__":
    main()

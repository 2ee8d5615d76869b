"""ml-100k CTR on the feature layer (the ``fields`` stage), 3 seeds: test AUC / LogLoss / GAUC and cold / warm AUC
per model, read from the run directory the recipe's cells wrote (one ``fields`` artifact per cell of models).

The cells (each under the shared heavy lock, one thread; prepare is cached across them):

    python -m mmrec run recipes/ml-100k-ctr.yaml --stage fields --output /tmp/fields-ml100k \\
        fields.modalities_dir=/work/wt/content-ml100k 'fields.models=[zoo_lr,zoo_fm,zoo_dnn]' fields.train.threads=1
    python -m mmrec run recipes/ml-100k-ctr.yaml --stage fields --output /tmp/fields-ml100k \\
        fields.modalities_dir=/work/wt/content-ml100k 'fields.models=[zoo_deepfm,zoo_dcnv2]' fields.train.threads=1

    python -m mmrec run recipes/ml-100k-ctr.yaml --stage fields --output /tmp/fields-ml100k \
        fields.modalities_dir=/work/wt/content-ml100k 'fields.models=[zoo_din,zoo_din_mm]' fields.train.threads=1 \
        'fields.model_overrides.zoo_din_mm.modalities=[text,image]'
    python -m mmrec run recipes/ml-100k-ctr.yaml --stage fields --output /tmp/fields-ml100k \
        fields.modalities_dir=/work/wt/content-ml100k 'fields.models=[zoo_diff_msin]' fields.train.threads=1 \
        'fields.model_overrides.zoo_diff_msin.modalities=[text,image]'

then:  python benchmarks/fields_ml100k_table.py /tmp/fields-ml100k [--out benchmarks/results/fields_ml100k]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mmrec.core.io import write_json, write_text

REPO = Path(__file__).resolve().parents[1]
ORDER = ["zoo_lr", "zoo_fm", "zoo_dnn", "zoo_deepfm", "zoo_dcnv2", "zoo_din", "zoo_din_mm", "zoo_diff_msin"]


def collect(run_dir: Path) -> tuple[dict, dict]:
    """({model: result}, summary) over every finished fields artifact of ``run_dir``."""
    models, summary = {}, {}
    for artifact in sorted((run_dir / "artifacts").glob("fields-*")):
        if not (artifact / "stage.json").is_file():
            continue
        models.update(json.loads((artifact / "results.json").read_text()).get("fields", {}))
        summary = json.loads((artifact / "summary.json").read_text())
    ranked = {m: models[m] for m in ORDER if m in models}
    return {**ranked, **{m: r for m, r in models.items() if m not in ranked}}, summary


def _cell(value) -> str:
    if value is None:
        return "–"
    if not isinstance(value, dict):  # identical over the seeds (aggregate_seeds keeps it as it is)
        return str(value)
    return f"{value['mean']:.4f} ± {value['std']:.4f}" if value.get("n", 1) > 1 else f"{value['mean']:.4f}"


def markdown(models: dict, summary: dict, run_dir: Path) -> str:
    lines = ["# ml-100k CTR on the typed feature layer (fields stage), mean ± std over seeds", "",
             "Events: the ctr split kind's per-user time split (70,012 / 9,988 / 20,000), label rating >= 4; "
             "features: recipes/ml-100k-ctr.yaml (ML100K_CTR_FIELDS.md) with the frozen text / image / llm vectors "
             f"of /work/wt/content-ml100k; frozen tables {summary.get('frozen_tables')}; one thread. The flat "
             "baselines read the user / item / context fields and the frozen vectors; none of them reads the "
             "history sequence (DIN-family models do).", "", "Commands (see this script's docstring):", "",
             "```", f"python -m mmrec run recipes/ml-100k-ctr.yaml --stage fields --output {run_dir} "
             "fields.modalities_dir=/work/wt/content-ml100k 'fields.models=[zoo_lr,zoo_fm,zoo_dnn]' "
             "fields.train.threads=1",
             f"python -m mmrec run recipes/ml-100k-ctr.yaml --stage fields --output {run_dir} "
             "fields.modalities_dir=/work/wt/content-ml100k 'fields.models=[zoo_deepfm,zoo_dcnv2]' "
             "fields.train.threads=1",
             f"python -m mmrec run recipes/ml-100k-ctr.yaml --stage fields --output {run_dir} "
             "fields.modalities_dir=/work/wt/content-ml100k 'fields.models=[zoo_din,zoo_din_mm]' "
             "fields.train.threads=1 'fields.model_overrides.zoo_din_mm.modalities=[text,image]'",
             f"python -m mmrec run recipes/ml-100k-ctr.yaml --stage fields --output {run_dir} "
             "fields.modalities_dir=/work/wt/content-ml100k 'fields.models=[zoo_diff_msin]' "
             "fields.train.threads=1 'fields.model_overrides.zoo_diff_msin.modalities=[text,image]'",
             f"python benchmarks/fields_ml100k_table.py {run_dir}", "```", "",
             "| model | seeds | test AUC | test LogLoss | GAUC | cold AUC | warm AUC | best epoch | train s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in models.items():
        lines.append(f"| {name} | {len(r['seeds'])} | {_cell(r['overall']['AUC'])} | {_cell(r['overall']['LogLoss'])} "
                     f"| {_cell(r['overall']['GAUC'])} | {_cell(r['cold']['AUC'])} | {_cell(r['warm']['AUC'])} | "
                     f"{_cell(r['best_epoch'])} | {_cell(r['train_seconds'])} |")
    first = next(iter(models.values()), None)
    if first:
        lines += ["", f"Cold = target item with <= 5 training events ({first['cold']['n']} of "
                      f"{first['overall']['n']} test events)."]
    lines += ["", "Per seed (test AUC / LogLoss / cold AUC):", ""]
    for name, r in models.items():
        lines.append(f"- {name}: " + "; ".join(f"seed {s['seed']}: {s['AUC']:.4f} / {s['LogLoss']:.4f} / "
                                              f"{s['cold_AUC']:.4f}" for s in r["per_seed"]))
    lines += ["", "Claims (a difference counts only beyond 2 std, the larger of the two rows'):", ""]
    for a, b, part in (("zoo_din_mm", "zoo_diff_msin", "overall"), ("zoo_din_mm", "zoo_diff_msin", "cold"),
                       ("zoo_din", "zoo_din_mm", "overall"), ("zoo_dnn", "zoo_din", "overall")):
        lines.append(f"- {b} > {a}, {part} AUC: {_verdict(models, a, b, part)}")
    return "\n".join(lines) + "\n"


def _verdict(models: dict, a: str, b: str, part: str) -> str:
    if a not in models or b not in models:
        return "not measured"
    x, y = models[a][part]["AUC"], models[b][part]["AUC"]
    gap, spread = y["mean"] - x["mean"], 2 * max(x["std"], y["std"])
    return f"{'held' if gap > spread else 'not held'} (gap {gap:+.4f}, 2 std {spread:.4f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "fields_ml100k")
    args = ap.parse_args()
    models, summary = collect(args.run_dir)
    if not models:
        raise SystemExit(f"{args.run_dir}: no finished fields artifact")
    text = markdown(models, summary, args.run_dir)
    write_text(args.out.with_suffix(".md"), text)
    write_json(args.out.with_suffix(".json"), {"run_dir": str(args.run_dir), "summary": summary,
                                               "models": {m: {k: r[k] for k in ("overall", "warm", "cold", "per_seed",
                                                                                "best_epoch", "train_seconds",
                                                                                "config")} for m, r in models.items()}})
    print(text)


if __name__ == "__main__":
    main()

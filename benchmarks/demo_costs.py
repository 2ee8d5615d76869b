"""What the demo costs and what its knobs cost in quality: finished runs of recipes/ml-100k.yaml side by side.

    python benchmarks/demo_costs.py --run old=/tmp/demo-run --run new=/tmp/speed16-demo \
        [--run cached=/tmp/speed16-demo-cached] [--limit-s 600]

The runs themselves are `make demo` (``mmrec run recipes/ml-100k.yaml --output DIR``) under the shared heavy lock;
this script only reads them: per stage the seconds of its ``stage.json`` (encoders inside ``encode`` from its
``encode.json``), the total against the issue's 10-minute limit, the machine each run's stages recorded (CPU
model, cores, vector extensions), the recipe settings that differ, and every model's headline test metric per split
(NDCG@10, AUC for CTR) with the change from the first run. Timings move with the machine and with other users'
load: compare stages within a run (shares), and runs only on the same machine.
Writes ``benchmarks/results/demo.json`` and ``benchmarks/results/demo.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mmrec.eval.report_summary import stage_machines

REPO = Path(__file__).resolve().parents[1]
HEADLINE = {"ctr": "AUC"}  # others: NDCG@10


def _value(v):
    return v["mean"] if isinstance(v, dict) else v


def read_run(run: Path) -> dict:
    stages = json.loads((run / "stages.json").read_text())
    seconds = {}
    for name, rel in stages.items():
        path = run / rel / "stage.json"
        if path.is_file():
            seconds[name] = float(json.loads(path.read_text())["seconds"])
    encode = run / stages.get("encode", "-") / "encode.json"
    encoders = {k: v["seconds"] for k, v in json.loads(encode.read_text()).items()} if encode.is_file() else {}
    metrics = {}
    for rel in stages.values():
        results = run / rel / "results.json"
        if results.is_file():
            for split, models in json.loads(results.read_text()).items():
                metric = HEADLINE.get(split, "NDCG@10")
                for model, r in models.items():
                    metrics[f"{split}/{model}"] = (metric, _value(r["overall"].get(metric)))
    recipe = json.loads((run / "recipe.json").read_text())
    return {"stages": seconds, "encoders": encoders, "total_s": sum(seconds.values()), "metrics": metrics,
            "machines": stage_machines(run, stages), "recipe": recipe}


def _flat(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _flat(v, f"{prefix}{k}.")
    else:
        yield prefix[:-1], obj


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, help="label=RUN_DIR (the first is the reference)")
    parser.add_argument("--limit-s", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "demo.json")
    args = parser.parse_args()
    runs = {label: read_run(Path(path)) for label, path in (r.split("=", 1) for r in args.run)}
    labels = list(runs)
    ref = runs[labels[0]]
    lines = ["# The demo's cost (recipes/ml-100k.yaml)", "", "Command: `python benchmarks/demo_costs.py "
             + " ".join(f"--run {r}" for r in args.run) + "`", "", "## Seconds per stage", "",
             "| stage | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    stage_names = list(dict.fromkeys(n for r in runs.values() for n in r["stages"]))
    for name in stage_names:
        lines.append(f"| {name} | " + " | ".join(f"{r['stages'].get(name, float('nan')):.1f}" for r in runs.values())
                     + " |")
        if name == "encode":
            for enc in dict.fromkeys(e for r in runs.values() for e in r["encoders"]):
                lines.append(f"| &nbsp; encode: {enc} | "
                             + " | ".join(f"{r['encoders'].get(enc, float('nan')):.1f}" for r in runs.values()) + " |")
    lines.append("| **total** | " + " | ".join(f"**{r['total_s']:.0f}** ({r['total_s'] / 60:.1f} min)"
                                             for r in runs.values()) + " |")
    lines.append("| machine | " + " | ".join("; ".join(r["machines"]) or "not recorded" for r in runs.values()) + " |")
    lines.append("| under the 10-min limit | " + " | ".join("yes" if r["total_s"] <= args.limit_s else "no"
                                                         for r in runs.values()) + " |")
    lines += ["", "## Recipe settings that differ from " + labels[0], ""]
    base = dict(_flat(ref["recipe"]))
    for label in labels[1:]:
        other = dict(_flat(runs[label]["recipe"]))
        diff = [f"`{k}`: {base.get(k)!r} -> {other.get(k)!r}" for k in sorted(set(base) | set(other))
                if base.get(k) != other.get(k)]
        lines += [f"- {label}: " + ("; ".join(diff) if diff else "none")]
    lines += ["", "## Test metric per model", "", "| split/model | metric | " + " | ".join(labels)
              + " | " + " | ".join(f"{lab} - {labels[0]}" for lab in labels[1:]) + " |",
              "|---|---|" + "---|" * (2 * len(labels) - 1)]
    for key, (metric, value) in ref["metrics"].items():
        others = [runs[lab]["metrics"].get(key, (metric, None))[1] for lab in labels[1:]]
        cells = [f"{v:.4f}" if v is not None else "–" for v in [value, *others]]
        deltas = [f"{o - value:+.4f}" if o is not None and value is not None else "–" for o in others]
        lines.append(f"| {key} | {metric} | " + " | ".join(cells + deltas) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.write_text(json.dumps({label: {k: v for k, v in r.items() if k != "recipe"} for label, r in runs.items()},
                                   indent=2) + "\n")
    args.out.with_suffix(".md").write_text(text)
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()

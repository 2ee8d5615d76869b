"""Render a run's report from its artifacts: ``report.json`` + ``report.md`` per split, and an index.

Model-training stages write ``results.json`` (``{split: {model: metrics}}``) into their artifacts; the
report gathers them beside the dataset and split statistics of ``prepare``, so ``mmrec report DIR``
can re-render a finished run without recomputing anything.
"""

from __future__ import annotations

import json
from pathlib import Path

from mmrec.io import write_json, write_text


def collect(run_dir: Path) -> tuple[dict, dict, dict]:
    """(recipe, prepare stats, {split: {model: result}}) of a run directory."""
    stages_file = run_dir / "stages.json"
    if not stages_file.is_file():
        raise FileNotFoundError(f"{run_dir} is not a finished mmrec run (no stages.json)")
    stages = json.loads(stages_file.read_text())
    recipe = json.loads((run_dir / "recipe.json").read_text())
    stats = json.loads((run_dir / stages["prepare"] / "stats.json").read_text())
    results: dict[str, dict] = {}
    for rel in stages.values():
        path = run_dir / rel / "results.json"
        if path.is_file():
            for split, models in json.loads(path.read_text()).items():
                results.setdefault(split, {}).update(models)
    return recipe, stats, results


def _markdown(report: dict) -> str:
    lines = [f"# {report['dataset']} — {report['split']}", "",
             f"Task: {report['task']}. Seed(s): {report['seeds']}. Protocol: {report['protocol']}", "",
             "## Data", ""]
    lines += [f"- {k.replace('_', ' ')}: {v}" for k, v in report["data"].items()]
    lines += ["", "## Split", ""] + [f"- {k.replace('_', ' ')}: {v}" for k, v in report["split_summary"].items()]
    if report["models"]:
        lines += ["", "## Models", "", "| model | " + " | ".join(report["headline"]) + " |",
                  "|---|" + "---|" * len(report["headline"])]
        for name, res in report["models"].items():
            cells = [_fmt(res.get("overall", {}).get(m)) for m in report["headline"]]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    else:
        lines += ["", "No models trained in this run yet."]
    return "\n".join(lines) + "\n"


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, dict):
        return f"{value['mean']:.4f} ± {value['std']:.4f}"
    return f"{value:.4f}"


PROTOCOLS = {
    "leave-one-out": "sequential leave-one-out; full ranking over all items, user's history masked",
    "new-items": "sequential new-items (seeded 20% of items never in training); full ranking over all items",
    "ctr": "CTR per-user time split (last 20% test, 10% before it validation)",
}


def render_report(run_dir: str | Path) -> list[Path]:
    """Write ``<split>/report.json`` and ``report.md`` for every split, plus ``index.md``; returns the JSON paths."""
    run_dir = Path(run_dir)
    recipe, stats, results = collect(run_dir)
    written = []
    index = [f"# Run report: {stats['tables']['dataset']}", ""]
    for split, summary in stats["splits"].items():
        report = {
            "dataset": stats["tables"]["dataset"],
            "task": "ctr" if split == "ctr" else "sequential",
            "split": split,
            "seeds": recipe.get("seeds", [recipe.get("seed")]),
            "protocol": PROTOCOLS.get(split, split),
            "data": stats["tables"],
            "split_summary": summary,
            "headline": ["AUC", "GAUC", "LogLoss"] if split == "ctr" else ["HR@10", "NDCG@10", "MRR@10"],
            "models": results.get(split, {}),
        }
        folder = run_dir / split
        write_json(folder / "report.json", report)
        write_text(folder / "report.md", _markdown(report))
        written.append(folder / "report.json")
        index.append(f"- [{split}]({split}/report.md): {len(report['models'])} model(s)")
    write_text(run_dir / "index.md", "\n".join(index) + "\n")
    return written

"""The ``fields`` stage's report: ``RUN/fields/report.{json,md,html}`` (+ PNGs), listed in the run's index.

Built from the stage's ``results.json`` / ``summary.json`` alone (``mmrec report DIR`` re-renders it): test AUC /
GAUC / LogLoss per model (mean ± std over the seeds, :func:`mmrec.core.seeds.aggregate_seeds`), warm / cold and
per-frequency-bin AUC where the events have an item field, the embedding analysis (IA, effective rank and
spectra per field; learned correlation vs mutual information; domain entanglement), cost and each seed's numbers.
The Markdown / HTML writers are the run report's (:mod:`mmrec.eval.report`); this module decides the tables.
"""

from __future__ import annotations

import json
from pathlib import Path

from mmrec.core.io import write_json, write_text
from mmrec.eval.embedding_section import embedding_plots, embedding_tables
from mmrec.eval.report import _bin_table, _fmt, _html, _markdown, compare, render_report
from mmrec.eval.report_plots import plot_bins
from mmrec.eval.report_summary import summary_lines

NAME = "fields"  # the stage, its results key and the report's folder
HEADLINE = "AUC"


def _metrics(models: dict) -> list[str]:
    """AUC, GAUC (when some model has it: the events have a user field), LogLoss."""
    has_gauc = any(r["overall"].get("GAUC") is not None for r in models.values())
    return ["AUC", *(["GAUC"] if has_gauc else []), "LogLoss"]


def fields_tables(report: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table of the fields report."""
    models = report["models"]
    if not models:
        return []
    ks, verdict = _metrics(models), compare(models, metric=HEADLINE)
    out = [("Overall (test)", ["model", *ks, f"vs best on {HEADLINE}"],
            [[n, *[_fmt(r["overall"].get(m)) for m in ks], verdict.get(n, "")] for n, r in models.items()])]
    first = next(iter(models.values()))
    if "cold" in first:
        cold_verdict = compare(models, "cold", HEADLINE)
        out.append((f"Warm vs cold test events (cold: target item with ≤ {report['cold_threshold']} training "
                    f"events; {first['warm'].get('n', '?')} warm, {first['cold'].get('n', '?')} cold events)",
                    ["model", *[f"{part} {m}" for m in ks for part in ("warm", "cold")],
                     f"vs best on cold {HEADLINE}"],
                    [[n, *[_fmt(r[part].get(m)) for m in ks for part in ("warm", "cold")], cold_verdict.get(n, "")]
                     for n, r in models.items()]))
        out += [_bin_table(models, m, "events") for m in ("AUC", "LogLoss")]
    out += embedding_tables(models)
    out.append(("Cost", ["model", "train seconds (steps)", "fit seconds (with validation)", "samples / s",
                         "best epoch"],
                [[n, _fmt(r.get("train_seconds")), _fmt(r.get("fit_seconds")), _fmt(r.get("samples_per_s")),
                  _fmt(r.get("best_epoch"))] for n, r in models.items()]))
    out.append(("Per seed (test)", ["model", "seed", "AUC", "LogLoss", "cold AUC", "best epoch"],
                [[n, str(s["seed"]), _fmt(s["AUC"]), _fmt(s["LogLoss"]), _fmt(s.get("cold_AUC")),
                  str(s["best_epoch"])] for n, r in models.items() for s in r.get("per_seed", [])]))
    return out


def _protocol(summary: dict, recipe: dict) -> str:
    sources = "; ".join(f"{s}: {src}" for s, src in summary.get("sources", {}).items())
    monitor = recipe.get("fields", {}).get("train", {}).get("monitor", "AUC")
    return (f"CTR on the typed feature layer (events: {sources or 'not recorded'}); feature map fitted on train "
            f"only; early stopping on validation {monitor}, test scored once with the best-validation weights")


def render_fields(run_dir: Path, recipe: dict, stages: dict, state: list[str], notes: list[str], cost: str
                  ) -> list[tuple[str, str, Path]]:
    """Write the fields report when the run has the stage; ``[(name, one-line summary, report.json)]``."""
    if NAME not in stages:
        return []
    artifact = run_dir / stages[NAME]
    models = json.loads((artifact / "results.json").read_text()).get(NAME, {})
    summary = json.loads((artifact / "summary.json").read_text()) if (artifact / "summary.json").is_file() else {}
    report = {
        "dataset": summary.get("dataset", recipe.get("data", {}).get("dataset", "?")), "task": NAME, "split": NAME,
        "split_seed": recipe.get("seed"), "seeds": recipe.get("seeds", [recipe.get("seed")]),
        "protocol": _protocol(summary, recipe), "cold_threshold": recipe.get("eval", {}).get("cold_threshold"),
        "data": {k: v for k, v in summary.items() if k not in ("sources", "field_sizes")},
        "split_summary": {"field sizes": summary.get("field_sizes", {})},
        "training": {k: v for k, v in recipe.get(NAME, {}).items() if k != "models"} if models else {},
        "models": models, "state": state, "notes": notes,
    }
    report["summary"] = summary_lines(report, HEADLINE) + [cost]
    report["tables"] = fields_tables(report)
    images = {}
    if models and "bins" in next(iter(models.values())) and (png := plot_bins(models, HEADLINE)) is not None:
        images["auc_by_bin.png"] = png
    images.update(embedding_plots(models))
    folder = run_dir / NAME
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in images.items():
        (folder / name).write_bytes(data)
    for stale in folder.glob("*.png"):  # plots of models an earlier configuration of the stage had
        if stale.name not in images:
            stale.unlink()
    write_json(folder / "report.json", report)
    write_text(folder / "report.md", _markdown(report, list(images)))
    write_text(folder / "report.html", _html(report, images))
    return [(NAME, f"{len(models)} model(s)" + "".join(f"; {x}" for x in report["summary"][:-1]),
             folder / "report.json")]


def render_run_report(run_dir: str | Path) -> list[Path]:
    """The run's reports (:func:`mmrec.eval.report.render_report`) with the fields report among them."""
    return render_report(run_dir, extra=(render_fields,))

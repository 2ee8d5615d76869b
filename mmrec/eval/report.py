"""Render a run's report from its artifacts: per split ``report.json``, ``report.md``, ``report.html`` and plots.

Model-training stages write ``results.json`` (``{split: {model: metrics}}``) into their artifacts; the
report gathers them beside the dataset and split statistics of ``prepare``, so ``mmrec report DIR``
can re-render a finished run without recomputing anything. The HTML is self-contained (inline CSS, plots
embedded as base64 PNGs, also written next to it).
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from mmrec.core.io import write_json, write_text
from mmrec.eval.embedding_section import EMBEDDING_GLOSSARY, embedding_plots, embedding_tables
from mmrec.eval.plot_cache import cached_plots
from mmrec.eval.report_plots import plot_bins, plot_frequency
from mmrec.eval.report_summary import cost_line, encoder_costs, stage_costs, stage_machines, summary_lines

HEADLINE = "NDCG@10"
HEADLINES = {"sequential": HEADLINE, "ctr": "AUC", "fields": "AUC"}  # the metric models are compared by, per task
COMMON_GLOSSARY = [
    ("frequency bins", "bin 0 = items never seen in training; bins 1.. cut the seen items by training count into "
                       "groups carrying equal numbers of training interactions (popular items in the last bins)"),
    ("noisy", "a bin with fewer than 30 test cases: its numbers are too uncertain to compare"),
    ("mean ± std", "over the model seeds (std with n-1); a gap under two std is reported as 'no difference'"),
]
SEQUENTIAL_GLOSSARY = [
    ("HR@K", "share of test cases whose held-out item is among the top K recommendations"),
    ("NDCG@K", "like HR@K, but a hit at rank r counts 1/log2(r+1): higher when the item is near the top"),
    ("MRR@K", "mean of 1/rank of the held-out item (0 when it is outside the top K)"),
    ("full ranking", "every item of the catalogue is a candidate; items the user already interacted with are "
                     "removed; items tied in score with the held-out one count by the report's `ties` rule "
                     "(expected, the default: half of them rank above it; optimistic: none; pessimistic: all)"),
    ("cold / warm", "cold = held-out items with at most `cold_threshold` training interactions, warm = the rest"),
    *COMMON_GLOSSARY,
]
CTR_GLOSSARY = [
    ("AUC", "probability that a random clicked test event is scored above a random non-clicked one (0.5 = chance)"),
    ("GAUC", "AUC within each user, averaged with weights = the user's test events (users with one class skipped)"),
    ("LogLoss", "mean binary cross-entropy of the predicted click probabilities (lower is better)"),
    ("cold / warm", "cold = test events whose target item has at most `cold_threshold` training interactions, "
                    "warm = the rest"),
    *COMMON_GLOSSARY,
    *EMBEDDING_GLOSSARY,
]
GLOSSARIES = {"sequential": SEQUENTIAL_GLOSSARY, "ctr": CTR_GLOSSARY, "fields": CTR_GLOSSARY}


def collect(run_dir: Path) -> tuple[dict, dict, dict]:
    """(recipe, prepare stats, {split: {model: result}}) of a run directory."""
    stages_file = run_dir / "stages.json"
    if not stages_file.is_file():
        raise FileNotFoundError(f"{run_dir} is not a finished mmrec run (no stages.json)")
    stages = json.loads(stages_file.read_text())
    if "prepare" not in stages and "fields" not in stages:  # a CTR log's run has the fields stage alone
        raise FileNotFoundError(f"{run_dir}: the prepare stage has not finished, nothing to report yet")
    recipe = json.loads((run_dir / "recipe.json").read_text())
    stats = json.loads((run_dir / stages["prepare"] / "stats.json").read_text()) if "prepare" in stages else \
        {"tables": {"dataset": recipe["data"]["dataset"]}, "splits": {}}
    results: dict[str, dict] = {}
    for rel in stages.values():
        path = run_dir / rel / "results.json"
        if path.is_file():
            for split, models in json.loads(path.read_text()).items():
                results.setdefault(split, {}).update(models)
    return recipe, stats, results


def _mean(value) -> float | None:
    if value is None:
        return None
    return float(value["mean"]) if isinstance(value, dict) else float(value)


def _std(value) -> float:
    return float(value["std"]) if isinstance(value, dict) else 0.0


def _has_spread(value) -> bool:
    """A mean over at least two seeds (a one-seed summary's std of 0 says nothing about noise)."""
    return isinstance(value, dict) and value.get("n", 2) > 1


def _fmt(value) -> str:
    if value is None or isinstance(value, str):
        return "–" if value is None else value
    digits = 4 if abs(_mean(value)) < 1 else 2  # metrics to 4 decimals, seconds and epochs to 2
    if isinstance(value, dict):
        if not _has_spread(value):
            return f"{value['mean']:.{digits}f}"
        return f"{value['mean']:.{digits}f} ± {value['std']:.{digits}f}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def compare(models: dict, group: str = "overall", metric: str = HEADLINE) -> dict[str, str]:
    """Each model against the best on ``group``/``metric``: 'best', 'no difference' (gap < 2 std) or 'worse'."""
    values = {n: r[group].get(metric) for n, r in models.items() if r.get(group, {}).get(metric) is not None}
    if not values:
        return {}
    best = max(values, key=lambda n: _mean(values[n]))
    out = {}
    for name, value in values.items():
        if name == best:
            out[name] = "best"
            continue
        gap = _mean(values[best]) - _mean(value)
        spread = max(_std(values[best]), _std(value))
        seeded = _has_spread(values[best]) or _has_spread(value)
        if gap <= 1e-12:
            out[name] = "equal to best"
        elif not seeded:
            out[name] = f"worse by {gap:.4f} (single run: no std)"
        elif gap < 2 * spread:
            out[name] = f"no difference (gap {gap:.4f} < 2 std)"
        else:
            out[name] = f"worse by {gap:.4f} (> 2 std)"
    return out


# ------------------------------------------------------------------------------------------------ text

def _bin_table(models: dict, metric: str, cases: str) -> tuple[str, list[str], list[list[str]]]:
    """``metric`` of every model per frequency bin, beside each bin's count range, items and test cases."""
    bins = next(iter(models.values())).get("bins", [])
    return (f"{metric} per frequency bin", ["bin", "training count", "items", f"test {cases}", *models.keys()],
            [[str(b["bin"]), f"{b['min_count']}–{b['max_count']}", str(b.get("n_items", "–")),
              f"{b['n_targets']}{' (noisy)' if b['noisy'] else ''}",
              *[_fmt(r["bins"][i].get(metric)) if i < len(r.get("bins", [])) else "–" for r in models.values()]]
             for i, b in enumerate(bins)])


def _tables(report: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table the report shows; shared by Markdown and HTML."""
    if "tables" in report:  # built by the report's own module (the fields report: mmrec.eval.fields_report)
        return report["tables"]
    models, ks = report["models"], report["headline"]
    out = []
    if not models:
        return out
    headline = HEADLINES[report["task"]]
    verdict = compare(models, metric=headline)
    out.append(("Overall (test)", ["model", *ks, f"vs best on {headline}"],
                [[n, *[_fmt(r["overall"].get(m)) for m in ks], verdict.get(n, "")] for n, r in models.items()]))
    first = next(iter(models.values()))
    cold_verdict = compare(models, "cold", headline)
    if report["task"] == "sequential":
        out.append((f"Warm vs cold targets (cold: ≤ {report['cold_threshold']} training interactions; "
                    f"{first['warm'].get('n_targets', '?')} warm, {first['cold'].get('n_targets', '?')} cold)",
                    ["model", f"warm {HEADLINE}", f"cold {HEADLINE}", "cold HR@10", f"vs best on cold {HEADLINE}"],
                    [[n, _fmt(r["warm"].get(HEADLINE)), _fmt(r["cold"].get(HEADLINE)), _fmt(r["cold"].get("HR@10")),
                      cold_verdict.get(n, "")] for n, r in models.items()]))
        out.append(_bin_table(models, HEADLINE, "targets"))
        among = {n: r for n, r in models.items() if r.get("among_new")}
        if among:
            n_new = next(iter(among.values()))["among_new"].get("n_targets", "?")
            out.append((f"Never-seen targets ranked among the never-seen items only ({n_new} targets): how well a model "
                        "orders new items, apart from how high it scores new items against warm ones (full ranking)",
                        ["model", f"full ranking {HEADLINE} (bin 0)", f"among new {HEADLINE}", "among new HR@10"],
                        [[n, _fmt(r["bins"][0].get(HEADLINE)), _fmt(r["among_new"].get(HEADLINE)),
                          _fmt(r["among_new"].get("HR@10"))] for n, r in among.items()]))
    else:
        out.append((f"Warm vs cold test events (cold: target item with ≤ {report['cold_threshold']} training "
                    f"interactions; {first['warm'].get('n', '?')} warm, {first['cold'].get('n', '?')} cold events)",
                    ["model", *[f"{part} {m}" for m in ks for part in ("warm", "cold")], f"vs best on cold {headline}"],
                    [[n, *[_fmt(r[part].get(m)) for m in ks for part in ("warm", "cold")], cold_verdict.get(n, "")]
                     for n, r in models.items()]))
        out += [_bin_table(models, m, "events") for m in ks]
        out += embedding_tables(models)
    with_tables = {n: r["embedding_tables"] for n, r in models.items() if r.get("embedding_tables")}
    if with_tables:
        def abundance(tables: dict, codes: bool):
            values = [t["information_abundance"] for k, t in tables.items() if (k != "id") == codes]
            means = [v["mean"] if isinstance(v, dict) else v for v in values]
            return f"{np.mean(means):.2f} ({len(means)} tables)" if means else "–"

        out.append(("Learned item tables: information abundance Σσ/σ_max (higher = less collapsed)",
                    ["model", "ID table", "code tables (mean)"],
                    [[n, abundance(t, False), abundance(t, True)] for n, t in with_tables.items()]))
    out.append(("Cost", ["model", "train seconds", "eval seconds (all test users)", "best epoch"],
                [[n, _fmt(r.get("train_seconds")), _fmt(r.get("eval_seconds")), _fmt(r.get("best_epoch"))]
                 for n, r in models.items()]))
    if report.get("stage_costs"):
        out.append(_stage_cost_table(report["stage_costs"]))
    return out


def _stage_cost_table(costs: dict) -> tuple[str, list[str], list[list[str]]]:
    """Seconds per stage of the whole run (encoders inside ``encode`` on their own rows) and each one's share."""
    total = sum(costs["stages"].values()) or 1.0
    rows = []
    for stage, seconds in costs["stages"].items():
        rows.append([stage, f"{seconds:.1f}", f"{100 * seconds / total:.0f} %"])
        if stage == "encode":
            rows += [[f"  encode: {name}", f"{s:.1f}", f"{100 * s / total:.0f} %"]
                     for name, s in costs["encoders"].items()]
    where = f"; {'; '.join(costs['machines'])}" if costs.get("machines") else ""
    return (f"Cost per stage (whole run, seconds{where})", ["stage", "seconds", "share"],
            rows + [["total", f"{sum(costs['stages'].values()):.1f}", "100 %"]])


def run_state(run_dir: Path) -> tuple[list[str], list[str]]:
    """(state lines, recipe notes) of a run: 'incomplete: stages not run yet: ...' while stages are missing, the
    stage that failed, and what the pre-run check skipped because the data lack it."""
    lines = []
    if (path := run_dir / "status.json").is_file():
        status = json.loads(path.read_text())
        if status["pending"]:
            lines.append(f"incomplete: stages not run yet: {', '.join(status['pending'])}"
                         + (f" (stage {status['failed']} failed; re-run the same command to complete it)"
                            if status.get("failed") else ""))
    checks = run_dir / "checks.json"
    return lines, json.loads(checks.read_text())["notes"] if checks.is_file() else []


def _markdown(report: dict, plots: list[str]) -> str:
    lines = [f"# {report['dataset']} — {report['split']}", ""]
    lines += [f"**{line}**\n" for line in report.get("state", [])]
    if report.get("summary"):
        lines += ["## Summary", ""] + [f"- {line}" for line in report["summary"]] + [""]
    lines += [
             f"Task: {report['task']}. Split seed: {report['split_seed']}. Model seeds: {report['seeds']}.", "",
             f"Protocol: {report['protocol']}." + (f" Ties: {report['ties']} rank." if report.get("ties") else ""),
             "", "## Data", ""]
    lines += [f"- {k.replace('_', ' ')}: {v}" for k, v in report["data"].items()]
    lines += ["", "## Split", ""] + [f"- {k.replace('_', ' ')}: {v}" for k, v in report["split_summary"].items()]
    if report.get("notes"):
        lines += ["", "## Recipe fitted to the data", ""] + [f"- {note}" for note in report["notes"]]
    if not report["models"]:
        lines += ["", "No models trained in this run yet."]
    for title, header, rows in _tables(report):
        lines += ["", f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    for name in plots:
        lines += ["", f"![{name}]({name})"]
    if report["models"]:
        lines += ["", "## Model settings", ""]
        lines += [f"- **{n}**: `{json.dumps(r.get('config', {}))}`" for n, r in report["models"].items()]
        if report.get("training"):
            lines += [f"- training: `{json.dumps(report['training'])}`"]
    lines += ["", "## How to read this", ""] + [f"- **{k}**: {v}" for k, v in GLOSSARIES[report["task"]]]
    return "\n".join(lines) + "\n"


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
td:last-child{text-align:left;color:#555}img{max-width:100%;border:1px solid #eee;margin:.5em 0}
code{font-size:12px;background:#f6f6f6;padding:1px 3px}dt{font-weight:600}dd{margin:0 0 .4em 1em}
.meta{color:#555}.state{background:#fff3cd;border:1px solid #e0c36a;padding:.5em 1em;font-weight:600}
.summary{background:#eef6ee;border:1px solid #9c9;padding:0 1em;margin:1em 0}"""


def _html(report: dict, images: dict[str, bytes]) -> str:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(report['dataset'])} — "
             f"{e(report['split'])}</title><style>{CSS}</style></head><body>",
             f"<h1>{e(report['dataset'])} — {e(report['split'])}</h1>",
             *[f"<p class='state'>{e(line)}</p>" for line in report.get("state", [])],
             *([f"<div class='summary'><h2>Summary</h2><ul>{''.join(f'<li>{e(x)}</li>' for x in report['summary'])}"
                "</ul></div>"] if report.get("summary") else []),
             f"<p class='meta'>Task: {e(report['task'])}. Split seed: {report['split_seed']}. "
             f"Model seeds: {e(str(report['seeds']))}.<br>Protocol: {e(report['protocol'])}.</p>",
             "<h2>Data and split</h2><table>"]
    for k, v in {**report["data"], **report["split_summary"]}.items():
        parts.append(f"<tr><th>{e(k.replace('_', ' '))}</th><td>{e(str(v))}</td></tr>")
    parts.append("</table>")
    if report.get("notes"):
        parts.append("<h2>Recipe fitted to the data</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in report["notes"])
                     + "</ul>")
    if not report["models"]:
        parts.append("<p>No models trained in this run yet.</p>")
    for title, header, rows in _tables(report):
        parts.append(f"<h2>{e(title)}</h2><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</table>")
    for name, data in images.items():
        parts.append(f"<img alt='{e(name)}' src='data:image/png;base64,{base64.b64encode(data).decode()}'>")
    if report["models"]:
        parts.append("<h2>Model settings</h2><dl>")
        parts += [f"<dt>{e(n)}</dt><dd><code>{e(json.dumps(r.get('config', {})))}</code></dd>"
                  for n, r in report["models"].items()]
        if report.get("training"):
            parts.append(f"<dt>training</dt><dd><code>{e(json.dumps(report['training']))}</code></dd>")
        parts.append("</dl>")
    parts.append("<h2>How to read this</h2><dl>")
    parts += [f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in GLOSSARIES[report["task"]]]
    parts.append("</dl></body></html>")
    return "\n".join(parts) + "\n"


PROTOCOLS = {
    "leave-one-out": "sequential leave-one-out (last item = test, second-to-last = validation); full ranking over "
                     "all items, the user's history masked; early stopping on validation NDCG@10, test touched once",
    "new-items": "sequential new-items (a seeded 20% of items never in training, test = each user's last "
                 "interaction with one); full ranking over all items, the user's history masked",
    "ctr": "CTR per-user time split (last 20% test, 10% before it validation)",
}


def _train_counts(run_dir: Path, stages: dict, split: str) -> np.ndarray | None:
    folder = run_dir / stages["prepare"] / "splits" / split
    if not (folder / "split.json").is_file():
        return None
    from mmrec.data.splits import CTRSplit, SequentialSplit  # `datasets` loads here, not when `mmrec report` starts

    return (CTRSplit if split == "ctr" else SequentialSplit).load(folder).item_train_counts()


def _plots(run_dir: Path, stages: dict, split: str, task: str, models: dict) -> dict[str, bytes]:
    """The split's PNGs: the headline metric per frequency bin, the item-frequency curve, CTR embedding plots."""
    images = {}
    headline = HEADLINES[task]
    if (png := plot_bins(models, headline)) is not None:
        images[f"{headline.split('@')[0].lower()}_by_bin.png"] = png
    counts = _train_counts(run_dir, stages, split)
    first_bins = next(iter(models.values())).get("bins")
    if counts is not None and first_bins:
        images["item_frequency.png"] = plot_frequency(counts, first_bins)
    if task == "ctr":
        images.update(embedding_plots(models))
    return images


def render_report(run_dir: str | Path, extra: Sequence[Callable[..., list[tuple[str, str, Path]]]] = ()
                  ) -> list[Path]:
    """Write ``<split>/report.{json,md,html}`` (+ PNGs) for every split, plus ``index.{md,html}``.

    ``extra``: renderers of further reports (the fields stage's), each called as ``(run_dir, recipe, stages,
    state, notes, cost)`` and returning ``(name, one-line summary, report.json path)`` per report it wrote; the
    index lists them after the splits."""
    run_dir = Path(run_dir)
    recipe, stats, results = collect(run_dir)
    stages = json.loads((run_dir / "stages.json").read_text())
    state, notes = run_state(run_dir)
    costs = stage_costs(run_dir, stages)
    machines = stage_machines(run_dir, stages)
    cost = cost_line(costs, machines)
    stage_cost_rows = {"stages": dict(costs), "encoders": dict(encoder_costs(run_dir, stages)), "machines": machines}
    written = []
    title = f"Run report: {stats['tables']['dataset']}"
    entries: list[tuple[str, str]] = []  # (split, one-line summary)
    for split, summary in stats["splits"].items():
        models = results.get(split, {})
        task = "ctr" if split == "ctr" else "sequential"
        settings = recipe.get("ctr" if task == "ctr" else "train", {})
        report = {
            "dataset": stats["tables"]["dataset"],
            "task": task,
            "split": split,
            "split_seed": recipe.get("seed"),
            "seeds": recipe.get("seeds", [recipe.get("seed")]),
            "protocol": PROTOCOLS.get(split, split),
            "cold_threshold": recipe.get("eval", {}).get("cold_threshold"),
            "ties": None if task == "ctr" else recipe.get("eval", {}).get("ties", "optimistic"),  # older runs: optimistic
            "data": stats["tables"],
            "split_summary": summary,
            "headline": ["AUC", "GAUC", "LogLoss"] if split == "ctr" else ["HR@10", "NDCG@10", "MRR@10"],
            "training": {k: v for k, v in settings.items() if k != "models"} if models else {},
            "models": models,
            "state": state,
            "notes": notes,
            "stage_costs": stage_cost_rows,
        }
        report["summary"] = summary_lines(report, HEADLINES[task]) + [cost]
        folder = run_dir / split
        images = cached_plots(run_dir / "cache" / "report-plots", [split, stages.get("prepare"), models],
                              lambda: _plots(run_dir, stages, split, task, models)) if models else {}
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in images.items():
            (folder / name).write_bytes(data)
        write_json(folder / "report.json", report)
        write_text(folder / "report.md", _markdown(report, list(images)))
        write_text(folder / "report.html", _html(report, images))
        written.append(folder / "report.json")
        entries.append((split, f"{len(models)} model(s)" + "".join(f"; {x}" for x in report["summary"][:-1])))
    for render in extra:
        for name, text, path in render(run_dir, recipe, stages, state, notes, cost):
            entries.append((name, text))
            written.append(path)
    write_text(run_dir / "index.md", f"# {title}\n\n" + "".join(f"**{line}**\n\n" for line in state) + "".join(
        f"- [{split}]({split}/report.md) ([html]({split}/report.html)): {text}\n" for split, text in entries)
        + f"\n{cost}\n")
    items = "".join(f"<li><a href='{html.escape(split)}/report.html'>{html.escape(split)}</a>: {html.escape(text)}</li>"
                    for split, text in entries)
    write_text(run_dir / "index.html", f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
               f"</title><style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
               + "".join(f"<p class='state'>{html.escape(line)}</p>" for line in state)
               + f"<ul>{items}</ul><p class='meta'>{html.escape(cost)}</p></body></html>\n")
    return written

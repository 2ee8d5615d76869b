"""The answer a report leads with: the best model overall and on cold / new items, its gain over the ID-only
backbone (with the std of that gain over seeds), and what each stage of the run cost.

The gain's std combines the two models' seed stds as independent (sqrt(s_a² + s_b²)); one seed has no std and the
line says so instead of printing a 0 that would read as certainty.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from mmrec.core.machine import machine_line

BACKBONES = {"sequential": ("sasrec", "gru4rec"), "ctr": ("din", "lr"),  # the ID-only reference, first present
             "fields": ("zoo_din", "zoo_lr")}


def _value(metric) -> tuple[float, float, int] | None:
    """(mean, std, n seeds) of a report metric: a ``{"mean", "std", "n"}`` row or a plain number."""
    if metric is None:
        return None
    if isinstance(metric, dict):
        return float(metric["mean"]), float(metric.get("std", 0.0)), int(metric.get("n", 1))
    return float(metric), 0.0, 1


def _best(models: dict, group: str, metric: str) -> str | None:
    scored = {n: _value(r.get(group, {}).get(metric)) for n, r in models.items()}
    scored = {n: v for n, v in scored.items() if v is not None}
    return max(scored, key=lambda n: scored[n][0]) if scored else None


def _gain(models: dict, best: str, backbone: str | None, group: str, metric: str) -> str:
    if backbone is None or backbone == best:
        return "" if backbone is None else " (the ID-only backbone itself)"
    a, b = _value(models[best][group].get(metric)), _value(models[backbone].get(group, {}).get(metric))
    if b is None:
        return ""
    diff = a[0] - b[0]
    relative = f", {100 * diff / b[0]:+.1f}%" if b[0] > 0 else ""
    if min(a[2], b[2]) < 2:
        return f"; {diff:+.4f} over {backbone}{relative} (single seed: no std)"
    return f"; {diff:+.4f} ± {math.hypot(a[1], b[1]):.4f} over {backbone}{relative}"


def summary_lines(report: dict, headline: str) -> list[str]:
    """One line per question: best overall, best on cold (new) items, each with its gain over the backbone."""
    models = report["models"]
    if not models:
        return []
    backbone = next((b for b in BACKBONES[report["task"]] if b in models), None)
    cold = "new (never-trained) items" if report["split"] == "new-items" else "cold items"
    lines = []
    for group, label in (("overall", "overall"), ("cold", cold)):
        best = _best(models, group, headline)
        if best is None:
            continue
        mean, std, n = _value(models[best][group][headline])
        spread = f" ± {std:.4f}" if n > 1 else ""
        lines.append(f"best {label}: {best}, {headline} {mean:.4f}{spread}"
                     + _gain(models, best, backbone, group, headline))
    return lines


def stage_costs(run_dir: Path, stages: dict[str, str]) -> list[tuple[str, float]]:
    """(stage, seconds) of every finished stage of the run, from its ``stage.json``."""
    out = []
    for name, rel in stages.items():
        path = run_dir / rel / "stage.json"
        if path.is_file():
            out.append((name, float(json.loads(path.read_text()).get("seconds", 0.0))))
    return out


def encoder_costs(run_dir: Path, stages: dict[str, str]) -> list[tuple[str, float]]:
    """(encoder, seconds) inside the ``encode`` stage, from its ``encode.json`` (empty before it has run)."""
    path = run_dir / stages.get("encode", "-") / "encode.json"
    if not path.is_file():
        return []
    return [(name, float(row.get("seconds", 0.0))) for name, row in json.loads(path.read_text()).items()]


def stage_machines(run_dir: Path, stages: dict[str, str]) -> list[str]:
    """The machines the finished stages ran on (one phrase each, in stage order, repeats dropped); stages written
    before the machine was recorded add none."""
    lines = []
    for rel in stages.values():
        path = run_dir / rel / "stage.json"
        machine = json.loads(path.read_text()).get("machine") if path.is_file() else None
        if machine:
            lines.append(machine_line(machine))
    return list(dict.fromkeys(lines))


def cost_line(costs: list[tuple[str, float]], machines: list[str] = ()) -> str:
    total = sum(s for _, s in costs)
    where = f" on {'; '.join(machines)}" if machines else ""
    return f"cost: {total:.0f} s in all{where} (" + ", ".join(f"{n} {s:.0f} s" for n, s in costs) + ")"

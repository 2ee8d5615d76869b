"""Compare every metric of two finished runs' reports, model by model, ignoring timings.

    python benchmarks/compare_runs.py RUN_A RUN_B

For refactors that must not change behaviour (same recipe, same seed, same threads): prints one line per (split,
model) with the number of metrics compared and how many differ, and exits 1 if any does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PARTS = ("overall", "warm", "cold", "bins", "embedding_tables", "best_epoch")


def leaves(obj, path=""):
    """(path, number) for every metric; a seed summary counts by its mean (one seed: the value itself)."""
    if isinstance(obj, dict):
        if set(obj) == {"mean", "std", "n"}:
            yield path, obj["mean"]
            return
        for key, value in obj.items():
            if "seconds" not in key:
                yield from leaves(value, f"{path}.{key}")
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from leaves(value, f"{path}[{i}]")
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield path, obj


def main(a: Path, b: Path) -> int:
    total = differ = 0
    for split in sorted(p.name for p in a.iterdir() if (p / "report.json").is_file()):
        models_a = json.loads((a / split / "report.json").read_text())["models"]
        models_b = json.loads((b / split / "report.json").read_text())["models"]
        for model, row in sorted(models_a.items()):
            fa = dict(leaves({k: v for k, v in row.items() if k in PARTS}))
            fb = dict(leaves({k: v for k, v in models_b.get(model, {}).items() if k in PARTS}))
            bad = [(k, fa[k], fb.get(k)) for k in fa if fb.get(k) != fa[k]]
            total, differ = total + len(fa), differ + len(bad)
            print(f"{split:14s} {model:18s} {len(fa):5d} metrics, {len(bad)} differ" + (f": {bad[:2]}" if bad else ""))
    print(f"{total} metrics compared, {differ} differ")
    return int(differ > 0)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))

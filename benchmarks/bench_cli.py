"""CLI start-up: ``python -m mmrec --help`` and ``python -m mmrec report DIR`` against the issue's 1 s limit.

    MMREC_DATA=... python benchmarks/bench_cli.py --run-dir runs/ml-100k [--repeats 5]

Each command runs in a fresh subprocess (interpreter start-up included), best of ``--repeats`` wall seconds.
``--run-dir`` is a finished run (``make demo`` writes runs/ml-100k); its results, statistics and split tables are
copied to a temporary directory (model checkpoints and embeddings left out: the report reads neither), so the
run itself is not touched. The first ``report`` there draws every plot (the "cold" column, timed once); the
re-renders after it re-use them (mmrec/eval/plot_cache.py), which is what ``mmrec report DIR`` on a finished run
does. Beside each time: the process's CPU seconds and whether torch / matplotlib / datasets were imported
(``-X importtime`` in a separate run, so the timed runs carry no tracing cost).
Writes ``benchmarks/results/cli.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "matplotlib", "datasets", "transformers", "diffusers", "faiss", "huggingface_hub")
LIMIT_S = 1.0


def timed(args: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one ``python -m mmrec ARGS`` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mmrec", *args], check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def heavy_imports(args: list[str]) -> list[str]:
    """Which of the heavy top-level packages the command imports, from ``-X importtime``."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "mmrec", *args], check=True, cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True).stderr
    names = {line.rsplit("|", 1)[-1].strip() for line in out.splitlines() if line.startswith("import time:")}
    return [h for h in HEAVY if h in names]


def copy_run(run_dir: Path, dest: Path) -> Path:
    """The parts of a run its report reads (no checkpoints, no caches)."""
    shutil.copytree(run_dir, dest, ignore=shutil.ignore_patterns("checkpoints", "cache", "*.safetensors", "*-adapter"))
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, default=ROOT / "runs" / "ml-100k")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "cli.json")
    args = parser.parse_args()
    if not (args.run_dir / "stages.json").is_file():
        raise SystemExit(f"{args.run_dir}: not a finished run (no stages.json); run `make demo` or pass --run-dir")
    rows = []
    with tempfile.TemporaryDirectory(prefix="mmrec-bench-cli-") as tmp:
        run = copy_run(args.run_dir, Path(tmp) / "run")
        cold_wall, cold_cpu = timed(["report", str(run)])
        for name, argv in (("--help", ["--help"]), ("report DIR", ["report", str(run)])):
            runs = [timed(argv) for _ in range(args.repeats)]
            wall, cpu = min(runs)
            rows.append({"command": f"python -m mmrec {name}", "best_wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                         "median_wall_s": round(sorted(r[0] for r in runs)[len(runs) // 2], 3),
                         "limit_s": LIMIT_S, "under_limit": wall < LIMIT_S, "heavy_imports": heavy_imports(argv)})
        rows.append({"command": "python -m mmrec report DIR (cold: every plot drawn)",
                     "best_wall_s": round(cold_wall, 3),
                     "cpu_s": round(cold_cpu, 3), "repeats": 1})
    print(f"{'command':<55} {'best wall s':>11} {'CPU s':>7}  heavy imports")
    for r in rows:
        heavy = (", ".join(r["heavy_imports"]) or "none") if "heavy_imports" in r else "(not traced)"
        print(f"{r['command']:<55} {r['best_wall_s']:>11.3f} {r['cpu_s']:>7.3f}  {heavy}")
    result = {"run_dir": str(args.run_dir), "repeats": args.repeats, "cpu_count": os.cpu_count(),
              "load_average": os.getloadavg(), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

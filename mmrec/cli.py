"""The ``mmrec`` command: ``run`` a recipe (all stages or one), re-render a ``report``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import datasets

from mmrec.config import ConfigError, load_recipe
from mmrec.data.errors import DataError
from mmrec.eval.report import render_report
from mmrec.pipeline import Pipeline, RunLockedError
from mmrec.stages import default_stages


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmrec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a recipe: all stages (cached) or one --stage and what it needs")
    run.add_argument("recipe", type=Path)
    run.add_argument("overrides", nargs="*", help="config overrides, key=value (e.g. seed=1 eval.n_bins=5)")
    run.add_argument("--output", type=Path, help="run directory (default: runs/<recipe name>)")
    run.add_argument("--stage", action="append", help="run only this stage and what it needs (repeatable)")
    report = sub.add_parser("report", help="re-render the report of a finished run")
    report.add_argument("run_dir", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)  # overrides may follow options: run R --output D a=1
    if args.command != "run" or any("=" not in x or x.startswith("-") for x in extra):
        parser.parse_args(argv)  # let argparse report the unrecognised arguments
    if args.command == "run":
        args.overrides = args.overrides + extra
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    datasets.disable_progress_bars()  # per-table save bars are noise; stages show their own progress
    try:
        if args.command == "run":
            cfg = load_recipe(args.recipe, args.overrides)
            run_dir = args.output or Path("runs") / cfg.name
            Pipeline(cfg, run_dir, default_stages()).run(args.stage)
            if args.stage:
                return 0
        else:
            run_dir = args.run_dir
        for path in render_report(run_dir):
            print(f"report: {path}")
        return 0
    except (ConfigError, DataError, RunLockedError, FileNotFoundError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"mmrec: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

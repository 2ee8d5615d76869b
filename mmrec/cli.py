"""The ``mmrec`` command: ``run`` a recipe (all stages or one), ``init`` a recipe for a dataset directory,
re-render a ``report``, ``push`` a trained model to the Hugging Face Hub, ``score`` a history with a saved model."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from pathlib import Path

# Each command imports what it needs when it runs (torch, the models, the Hub client): `mmrec --help` and
# `mmrec report DIR` must answer in well under a second, so nothing heavy is imported at module level here.


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmrec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a recipe: all stages (cached) or one --stage and what it needs")
    run.add_argument("recipe", type=Path)
    run.add_argument("overrides", nargs="*", help="config overrides, key=value (e.g. seed=1 eval.n_bins=5)")
    run.add_argument("--output", type=Path, help="run directory (default: runs/<recipe name>)")
    run.add_argument("--stage", action="append", help="run only this stage and what it needs (repeatable)")
    init = sub.add_parser("init", help="write a recipe for a dataset directory from its columns (text, images, "
                                       "ratings or labels, user features)")
    init.add_argument("dataset_dir", type=Path)
    init.add_argument("--output", type=Path, help="recipe file to write (default: <directory name>.yaml here)")
    init.add_argument("--force", action="store_true", help="overwrite the recipe file if it exists")
    report = sub.add_parser("report", help="re-render the report of a finished run")
    report.add_argument("run_dir", type=Path)
    push = sub.add_parser("push", help="push a run's trained model to the Hugging Face Hub (default: the best "
                                       "sequential model by NDCG@10, else the best CTR model by AUC)")
    push.add_argument("run_dir", type=Path)
    push.add_argument("repo_id", help="Hub repository, e.g. my-org/ml-100k-sasrec")
    push.add_argument("--split", help="which split's model (default: any)")
    push.add_argument("--model", help="which model, e.g. sasrec or diff_msin_te (default: the best in the report)")
    push.add_argument("--seed", type=int, help="which seed's weights (default: the first)")
    push.add_argument("--local-dir", type=Path, help="also write the repository folder here")
    push.add_argument("--dry-run", action="store_true", help="write the folder (--local-dir) but upload nothing")
    push.add_argument("--private", action="store_true", help="create the repository as private")
    score = sub.add_parser("score", help="top items for one history, from a saved model (folder or Hub repo id)")
    score.add_argument("model", help="saved model folder or Hub repo id (cached repos load with HF_HUB_OFFLINE=1)")
    score.add_argument("--history", nargs="+", required=True, help="item IDs, oldest first")
    score.add_argument("--top", type=int, default=10)
    score.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)  # overrides may follow options: run R --output D a=1
    if args.command != "run" or any("=" not in x or x.startswith("-") for x in extra):
        parser.parse_args(argv)  # let argparse report the unrecognised arguments
    if args.command == "run":
        args.overrides = args.overrides + extra
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        return {"run": _run, "init": _init, "report": _report, "push": _push, "score": _score}[args.command](args)
    except Exception as exc:
        if not isinstance(exc, _user_errors()):
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"mmrec: error: {message}", file=sys.stderr)
        return 2


# Errors that are the user's input (recipe, data, saved model, run directory), by defining module.
USER_ERRORS = {"mmrec.core.config": "ConfigError", "mmrec.data.errors": "DataError", "mmrec.pipeline": "RunLockedError",
               "mmrec.core.hub_mixin": "HubError", "mmrec.core.io": "CorruptFileError",
               "mmrec.features.errors": "FeatureError"}


def _user_errors() -> tuple[type[Exception], ...]:
    """Errors that are the user's input: one line, no traceback. Only the classes of modules already loaded: an
    exception of a class implies its module was imported, and importing mmrec.pipeline here would load every model
    (diffusers included: ~10 s of CPU) just to say that `mmrec report` was given a directory that is not a run."""
    loaded = tuple(getattr(sys.modules[module], name) for module, name in USER_ERRORS.items() if module in sys.modules)
    return (*loaded, FileNotFoundError, KeyError)


def _run(args: argparse.Namespace) -> int:
    from mmrec.core.allocator import keep_freed_memory

    keep_freed_memory()  # before any tensor: large ones are then reused, not faulted in again every step
    import datasets

    from mmrec.core.io import write_json
    from mmrec.eval.fields_report import render_run_report as render_report
    from mmrec.pipeline import Pipeline
    from mmrec.preflight import check_recipe
    from mmrec.recipe import load_recipe
    from mmrec.stages import default_stages
    from mmrec.train import distributed

    datasets.disable_progress_bars()  # per-table save bars are noise; stages show their own progress
    cfg = load_recipe(args.recipe, args.overrides)
    if cfg.encode.encoders and not sys.stderr.isatty():
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # its weight-loading bar: none in a log file
    run_dir = args.output or Path("runs") / cfg.name
    stages = default_stages(cfg)  # a CTR log's recipe is the fields stage alone (no item / user tables)
    planned = set(Pipeline(cfg, run_dir, stages).plan(args.stage))
    notes = check_recipe(cfg, planned)  # the recipe against the data's columns, before any stage runs
    group = distributed.init_from_env()  # torchrun: join the process group; otherwise rank 0 of 1
    if not group.is_main:
        logging.getLogger().setLevel(logging.WARNING)  # one log, from rank 0
    for note in notes:
        logging.getLogger("mmrec").info("recipe: %s", note)
    if group.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / "checks.json", {"notes": notes})

    last: dict = {}  # the stage after which the reports were last rendered, and the files written

    def report_stage(name: str, artifact: Path) -> None:
        """Every stage with results (and prepare's data tables) reaches the report at once: a later failure
        leaves the finished stages' reports, marked incomplete."""
        last.clear()
        if name == "prepare" or (artifact / "results.json").is_file():
            last.update(stage=name, written=render_report(run_dir))
            logging.getLogger("mmrec").info("report updated: %s", run_dir / "index.html")

    try:
        done = Pipeline(cfg, run_dir, stages, on_stage=report_stage).run(args.stage)
    except Exception:
        if group.is_main:
            with contextlib.suppress(FileNotFoundError):  # nothing to report before prepare has finished
                render_report(run_dir)  # the reports now name the failed stage
        raise
    if not group.is_main:
        return 0
    fresh = last.get("stage") == list(done)[-1]  # rendered after the last stage already: not twice
    for path in last["written"] if fresh else render_report(run_dir):
        print(f"report: {path}")
    return 0


def _init(args: argparse.Namespace) -> int:
    from mmrec.core.config import ConfigError
    from mmrec.init_recipe import write_recipe

    output = args.output or Path(f"{args.dataset_dir.resolve().name}.yaml")
    if output.exists() and not args.force:
        raise ConfigError(f"{output} exists; choose another --output or pass --force")
    for line in write_recipe(args.dataset_dir, output):
        print(f"from the data: {line}")
    print(f"recipe: {output}\nrun it:  python -m mmrec run {output}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from mmrec.eval.fields_report import render_run_report as render_report

    for path in render_report(args.run_dir):
        print(f"report: {path}")
    return 0


def _push(args: argparse.Namespace) -> int:
    from mmrec.core.hub_mixin import HubError
    from mmrec.hub import export_run_model

    if args.dry_run and args.local_dir is None:
        raise HubError("--dry-run writes the repository folder only; name it with --local-dir DIR")
    model, choice, card = export_run_model(args.run_dir, args.local_dir, args.split, args.model, args.seed)
    print(f"model: {choice.split}/{choice.name}/seed{choice.seed} ({choice.path})")
    if args.local_dir is not None:
        print(f"folder: {args.local_dir}")
    if not args.dry_run:
        from huggingface_hub.errors import HfHubHTTPError

        try:
            url = model.push_to_hub(args.repo_id, private=args.private or None, model_card_kwargs=card,
                                    commit_message=f"mmrec: {choice.name} ({choice.split}, seed {choice.seed})")
        except (HfHubHTTPError, OSError) as exc:  # offline mode, no network, no token, refused
            raise HubError(f"cannot push to {args.repo_id}: {str(exc).splitlines()[0]} "
                           "(write the folder only with --dry-run --local-dir DIR)") from None
        print(f"pushed: {url}")
    return 0


def _score(args: argparse.Namespace) -> int:
    from mmrec.hub import load_model, recommend

    top = recommend(load_model(args.model), args.history, args.top)
    if args.json:
        print(json.dumps(top))
    else:
        for rank, row in enumerate(top, 1):
            print(f"{rank:3d}  {row['item_id']}  {row['score']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

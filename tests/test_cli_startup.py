"""The CLI starts without the heavy libraries, and re-rendering a finished run's report draws no plot again.

Not timed (benchmarks/bench_cli.py times them): these catch the regression that makes them slow, a heavy import
at module level or a report that re-draws what it drew before."""

from __future__ import annotations

import json
import subprocess
import sys

from mmrec.eval.plot_cache import cached_plots
from mmrec.eval.report import render_report
from mmrec.pipeline import Pipeline
from mmrec.recipe import load_recipe
from mmrec.stages import default_stages
from tests.toy import env, write_recipe

HEAVY = ("torch", "diffusers", "transformers", "matplotlib", "datasets", "huggingface_hub", "faiss", "pandas")

# Runs the `mmrec` command in-process, then prints which heavy packages it left in sys.modules.
PROBE = """
import json, sys
from mmrec.cli import main
code = 0
try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # --help exits through argparse
    code = exc.code
print(json.dumps({"code": code, "heavy": [m for m in %r if m in sys.modules]}))
""" % (HEAVY,)


def _probe(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], env=env(), check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_cli_and_help_import_nothing_heavy() -> None:
    probe = f"import sys, mmrec.cli; print([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", probe], env=env(), check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
    assert _probe("--help") == {"code": 0, "heavy": []}


def test_a_user_error_is_reported_without_loading_the_models(tmp_path) -> None:
    out = subprocess.run([sys.executable, "-c", PROBE, "report", str(tmp_path / "missing")], env=env(), check=True,
                         capture_output=True, text=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"code": 2, "heavy": []}
    assert "is not a finished mmrec run" in out.stderr and "Traceback" not in out.stderr


def test_report_of_a_finished_run_reuses_its_plots(tmp_path) -> None:
    run = tmp_path / "run"
    Pipeline(load_recipe(write_recipe(tmp_path, models="popularity: {}")), run, default_stages()).run()
    render_report(run)
    first = (run / "leave-one-out" / "report.html").read_bytes()
    assert b"data:image/png;base64" in first  # the plots were drawn and embedded
    assert _probe("report", str(run)) == {"code": 0, "heavy": []}  # no matplotlib, no data tables
    assert (run / "leave-one-out" / "report.html").read_bytes() == first
    # a changed result is drawn again
    results = next((run / "artifacts").glob("train_seq-*/results.json"))
    data = json.loads(results.read_text())
    data["leave-one-out"]["popularity"]["bins"][0]["NDCG@10"] = {"mean": 0.5, "std": 0.0}
    results.write_text(json.dumps(data))
    assert "matplotlib" in _probe("report", str(run))["heavy"]
    assert (run / "leave-one-out" / "report.html").read_bytes() != first


def test_plot_cache_keys_on_the_inputs(tmp_path) -> None:
    drawn = []

    def draw(tag: str):
        def _draw() -> dict[str, bytes]:
            drawn.append(tag)
            return {"a.png": tag.encode(), "b.png": b"b"}
        return _draw

    assert cached_plots(tmp_path, {"x": 1}, draw("one")) == {"a.png": b"one", "b.png": b"b"}
    assert cached_plots(tmp_path, {"x": 1}, draw("again")) == {"a.png": b"one", "b.png": b"b"}
    assert cached_plots(tmp_path, {"x": 2}, draw("two"))["a.png"] == b"two"
    assert drawn == ["one", "two"]

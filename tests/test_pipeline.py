"""The staged pipeline: hash-keyed caching, atomic artifacts, resume after a crash, one process per run dir."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mmrec.cli import main
from mmrec.data.config import DataConfig
from mmrec.pipeline import Pipeline, RunLockedError, Stage
from mmrec.recipe import RecipeConfig
from mmrec.stages import default_stages

REPO = Path(__file__).resolve().parents[1]


def _stages(log, fail_in=None):
    def make(name):
        def run(ctx):
            log.append(name)
            (ctx.out / "part.txt").write_text(f"{name} seed={ctx.cfg.seed} inputs={sorted(ctx.inputs)}")
            if name == fail_in:
                raise RuntimeError(f"killed inside {name}")
            (ctx.out / "out.txt").write_text(name)
        return run

    return [Stage("a", make("a"), sections=("seed",)), Stage("b", make("b"), needs=("a",), sections=("eval",)),
            Stage("c", make("c"), needs=("b",))]


def test_rerun_skips_finished_stages(tmp_path):
    log = []
    Pipeline(RecipeConfig(), tmp_path, _stages(log)).run()
    Pipeline(RecipeConfig(), tmp_path, _stages(log)).run()
    assert log == ["a", "b", "c"]


def test_config_change_reruns_that_stage_and_downstream_only(tmp_path):
    log = []
    Pipeline(RecipeConfig(), tmp_path, _stages(log)).run()
    cfg = RecipeConfig()
    cfg.eval.n_bins = 3
    Pipeline(cfg, tmp_path, _stages(log)).run()
    assert log == ["a", "b", "c", "b", "c"]


def test_stage_selection_runs_what_it_needs(tmp_path):
    log = []
    done = Pipeline(RecipeConfig(), tmp_path, _stages(log)).run(["b"])
    assert log == ["a", "b"] and set(done) == {"a", "b"}
    with pytest.raises(KeyError, match="unknown stage 'zz'"):
        Pipeline(RecipeConfig(), tmp_path, _stages(log)).run(["zz"])


def test_crash_leaves_no_partial_artifact_and_resume_continues(tmp_path):
    log = []
    with pytest.raises(RuntimeError, match="killed inside b"):
        Pipeline(RecipeConfig(), tmp_path, _stages(log, fail_in="b")).run()
    artifacts = sorted(p.name.split("-")[0] for p in (tmp_path / "artifacts").iterdir())
    assert artifacts == ["a"]  # b's temporary is gone; only finished stages exist
    Pipeline(RecipeConfig(), tmp_path, _stages(log)).run()
    assert log == ["a", "b", "b", "c"]  # resumed at the first unfinished stage


def test_stale_temporaries_from_a_killed_process_are_removed(tmp_path):
    stale = tmp_path / "artifacts" / ".tmp-b-123abc"
    stale.mkdir(parents=True)
    (stale / "half.bin").write_bytes(b"x")
    Pipeline(RecipeConfig(), tmp_path, _stages([])).run()
    assert not stale.exists()


def test_second_process_on_the_same_run_dir_is_refused(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl,sys,time; f=open(sys.argv[1],'w'); fcntl.flock(f, fcntl.LOCK_EX);"
                               "print('locked', flush=True); time.sleep(30)", str(tmp_path / ".lock")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match="another mmrec process is using"):
            Pipeline(RecipeConfig(), tmp_path, _stages([])).run()
    finally:
        holder.kill()
        holder.wait()


def test_prepare_key_follows_the_data(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "items.csv").write_text("item_id,title\na,A\nb,B\n")
    (root / "interactions.csv").write_text("user_id,item_id,timestamp\nu,a,1\nu,b,2\nu,a,3\n")
    cfg = RecipeConfig(data=DataConfig(dataset=str(root), text_fields=["title"], image_field=None))
    first = Pipeline(cfg, tmp_path / "run", default_stages()).artifact("prepare")
    (root / "items.csv").write_text("item_id,title\na,A\nb,Changed\n")
    assert Pipeline(cfg, tmp_path / "run", default_stages()).artifact("prepare") != first


def test_cli_runs_ml100k_and_reports(tmp_path, data_root, capsys):
    out = tmp_path / "run"
    code = main(["run", str(REPO / "recipes" / "ml-100k.yaml"), "--output", str(out), "split.kinds=[leave-one-out]",
                 "--stage", "prepare"])
    assert code == 0
    assert main(["report", str(out)]) == 0  # rendered from the artifacts only
    report = json.loads((out / "leave-one-out" / "report.json").read_text())
    assert report["dataset"] == "ml-100k" and report["split"] == "leave-one-out"
    assert report["data"]["n_items"] == 1682 and report["split_summary"]["n_test"] == 943


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["run", str(REPO / "recipes" / "ml-100k.yaml"), "--output", str(tmp_path), "eval.kk=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmrec: error:") and "did you mean 'ks'" in err and err.count("\n") == 1
    assert main(["report", str(tmp_path / "nothing")]) == 2

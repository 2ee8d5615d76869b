"""Faults, end to end in subprocesses: SIGKILL mid-training then resume gives the uninterrupted run's numbers
exactly (CPU); a kill during any stage leaves no half-written artifact; two runs on one directory do not mix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file
from toy import env, mmrec, torchrun, write_recipe

TIMING = {"train_seconds", "eval_seconds", "wall_seconds"}


def _start(recipe: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(mmrec("run", recipe, "--output", out), env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(proc: subprocess.Popen, ready, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"run ended before the fault could be injected: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "timed out waiting for the run to reach the fault point"
        time.sleep(0.005)


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()


def _finish(recipe: Path, out: Path) -> None:
    done = subprocess.run(mmrec("run", recipe, "--output", out), env=env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def _no_half_written_artifacts(run: Path) -> None:
    """Every artifact directory is complete (has stage.json) or a temporary the next run deletes."""
    for path in (run / "artifacts").iterdir():
        assert path.name.startswith(".tmp-") or (path / "stage.json").is_file(), f"half-written artifact {path}"


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in TIMING}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _outcome(run: Path) -> tuple[dict, dict, dict]:
    (stage,) = (run / "artifacts").glob("train_seq-*")
    weights = load_file(str(stage / "models" / "leave-one-out" / "sasrec" / "seed0" / "model.safetensors"))
    return (_strip(json.loads((stage / "results.json").read_text())),
            _strip(json.loads((stage / "training_log.json").read_text())), weights)


def test_sigkill_after_a_checkpoint_then_resume_equals_an_uninterrupted_run(tmp_path):
    recipe = write_recipe(tmp_path, epochs=6, models="sasrec: {dim: 16, n_layers: 1, max_len: 8, dropout: 0.2}")
    _finish(recipe, tmp_path / "straight")

    run = tmp_path / "killed"
    state = list  # the checkpoint's loop state once rank 0 has written one
    proc = _start(recipe, run)

    def checkpointed() -> bool:
        nonlocal state
        state = list(run.glob("checkpoints/train_seq-*/leave-one-out/sasrec/seed0/checkpoint/last/state.json"))
        return bool(state)

    _wait_for(proc, checkpointed)
    _kill(proc)
    epoch = json.loads(state[0].read_text())["loop"]["epoch"]
    assert epoch < 5, "the run finished training before it was killed; nothing was resumed"
    _no_half_written_artifacts(run)
    _finish(recipe, run)

    (results, log, weights), (results0, log0, weights0) = _outcome(run), _outcome(tmp_path / "straight")
    assert results == results0 and log == log0  # metrics and the loss / validation curve, exactly
    assert weights.keys() == weights0.keys() and all((weights[k] == weights0[k]).all() for k in weights)
    assert not list((run / "artifacts").glob(".tmp-*"))


@pytest.mark.slow
def test_torchrun_stopped_after_a_checkpoint_then_resumed_equals_an_uninterrupted_ddp_run(tmp_path):
    # 61 users of 11 items: 61 windows, so the ranks' shards (31 / 30 rows) and dropout draws differ
    recipe = write_recipe(tmp_path, epochs=12, models="sasrec: {dim: 16, n_layers: 1, max_len: 8, dropout: 0.2}",
                          n_users=61, length=11)
    straight = subprocess.run(torchrun(2, "run", recipe, "--output", tmp_path / "straight"), env=env(),
                              capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0, straight.stderr[-3000:]
    run = tmp_path / "stopped"
    proc = subprocess.Popen(torchrun(2, "run", recipe, "--output", run), env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for(proc, lambda: any(run.glob("checkpoints/train_seq-*/*/sasrec/seed0/checkpoint/last/state.json")))
    proc.send_signal(signal.SIGTERM)  # torchrun stops its workers
    proc.communicate(timeout=120)
    (state,) = run.glob("checkpoints/train_seq-*/*/sasrec/seed0/checkpoint/last/state.json")
    assert json.loads(state.read_text())["loop"]["epoch"] < 11
    _no_half_written_artifacts(run)
    resumed = subprocess.run(torchrun(2, "run", recipe, "--output", run), env=env(), capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    (results, log, weights), (results0, log0, weights0) = _outcome(run), _outcome(tmp_path / "straight")
    assert results == results0 and log == log0
    assert all((weights[k] == weights0[k]).all() for k in weights0)


@pytest.mark.parametrize("stage", ["prepare", "train_seq"])
def test_a_kill_inside_a_stage_leaves_only_temporaries_and_the_rerun_completes(tmp_path, stage):
    recipe = write_recipe(tmp_path, epochs=3)
    run = tmp_path / "run"
    proc = _start(recipe, run)
    _wait_for(proc, lambda: any(run.glob(f"artifacts/.tmp-{stage}-*")))
    _kill(proc)
    _no_half_written_artifacts(run)
    # stages.json lists only the stages that finished (it is rewritten after each one); the killed one is not done
    finished = json.loads((run / "stages.json").read_text()) if (run / "stages.json").exists() else {}
    assert stage not in finished
    _finish(recipe, run)
    _no_half_written_artifacts(run)
    assert not list((run / "artifacts").glob(".tmp-*"))
    assert json.loads((run / "leave-one-out" / "report.json").read_text())["models"]["sasrec"]["n_targets"] == 60


WAIT_THEN_RUN = """
import pathlib, sys, time
import mmrec.cli, mmrec.pipeline, mmrec.stages  # imported before the go signal (the CLI imports them lazily),
# so the refusal is tested while the first run is busy
go = pathlib.Path(sys.argv[1])
while not go.exists():
    time.sleep(0.01)
sys.exit(mmrec.cli.main(sys.argv[2:]))
"""


def test_a_second_run_on_the_same_directory_is_refused_and_the_first_finishes_intact(tmp_path):
    recipe = write_recipe(tmp_path, epochs=6)
    run, go = tmp_path / "run", tmp_path / "go"
    second = subprocess.Popen([mmrec()[0], "-c", WAIT_THEN_RUN, go, "run", recipe, "seed=1", "--output", run],
                              env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = _start(recipe, run)
    _wait_for(first, lambda: any(run.glob("artifacts/*")))  # the first holds the lock from before it writes
    go.touch()
    _, refused = second.communicate(timeout=120)
    assert first.poll() is None, "the first run ended before the second tried the directory"
    assert second.returncode == 2
    assert f"another mmrec process is using {run}" in refused
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-3000:]
    _no_half_written_artifacts(run)
    assert json.loads((run / "recipe.json").read_text())["seed"] == 0  # nothing of the refused run was written
    assert json.loads((run / "leave-one-out" / "report.json").read_text())["models"]["sasrec"]["n_targets"] == 60

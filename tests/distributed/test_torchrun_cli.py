"""``torchrun --nproc_per_node=2 -m mmrec run RECIPE``: one set of artifacts from rank 0, the same loss curve and
test metrics as ``mmrec run`` in one process, and a model that ``mmrec push`` / ``load_model`` take as is."""

from __future__ import annotations

import json
import subprocess

import numpy as np
from toy import env, mmrec, torchrun, write_pad_recipe, write_recipe

from mmrec.hub import export_run_model

LOSS_RTOL = 1e-5  # dropout 0: only float summation order differs (see test_ddp.py)


def _stage(run):
    (stage,) = (run / "artifacts").glob("train_seq-*")
    return stage


def _run_one_and_two(recipe, tmp_path) -> subprocess.CompletedProcess:
    """``mmrec run`` in one process into ``one/``, then ``torchrun`` with 2 ranks into ``two/``; both must succeed."""
    one = subprocess.run(mmrec("run", recipe, "--output", tmp_path / "one"), env=env(), capture_output=True,
                         text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run(torchrun(2, "run", recipe, "--output", tmp_path / "two"), env=env(), capture_output=True,
                         text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    return two


def test_torchrun_two_ranks_match_one_process_and_write_once(tmp_path):
    recipe = write_recipe(tmp_path, epochs=2, batch_size=16)
    two = _run_one_and_two(recipe, tmp_path)
    assert two.stdout.count("report:") == 1  # rank 0 alone renders the report
    curves = [json.loads((_stage(tmp_path / r) / "training_log.json").read_text())["leave-one-out"]["sasrec"]["0"]
              for r in ("one", "two")]
    assert np.allclose([e["loss"] for e in curves[1]], [e["loss"] for e in curves[0]], rtol=LOSS_RTOL, atol=0)
    results = [json.loads((_stage(tmp_path / r) / "results.json").read_text())["leave-one-out"]["sasrec"]
               for r in ("one", "two")]
    assert results[1]["overall"] == results[0]["overall"]
    assert sorted(p.name for p in (tmp_path / "two" / "artifacts").iterdir()) == \
        sorted(p.name for p in (tmp_path / "one" / "artifacts").iterdir())  # no rank wrote a second copy
    model, choice, _ = export_run_model(tmp_path / "two", tmp_path / "hub")
    assert (choice.split, choice.name, choice.seed) == ("leave-one-out", "sasrec", 0)
    assert model.item_ids[:2] == ["i0", "i1"] and (tmp_path / "hub" / "items.json").is_file()


def test_torchrun_runs_single_process_stages_on_rank_0_alone(tmp_path):
    """align / pad train on rank 0 while the other rank waits: their trainer must not expect a DDP peer (it
    used to wait forever for one). Rank 0 then gives exactly the single-process PAD numbers."""
    recipe = write_pad_recipe(tmp_path)
    _run_one_and_two(recipe, tmp_path)
    pads = [json.loads(next((tmp_path / r / "artifacts").glob("pad-*/results.json")).read_text())["new-items"]
            for r in ("one", "two")]
    assert pads[1]["pad"]["overall"] == pads[0]["pad"]["overall"]

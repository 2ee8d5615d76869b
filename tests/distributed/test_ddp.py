"""DDP: 2 gloo processes at the same global batch follow the single-process loss curve; sharding helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mmrec.train.distributed import all_gather_rows, per_rank_batch, shard_indices

REPO = Path(__file__).resolve().parents[2]
WORKER = REPO / "tests" / "train_worker.py"
# Dropout off, so both runs draw no random masks and see the same rows per global batch; what remains is float
# summation order (DDP sums per-rank gradients, one process sums one batch), amplified a little by Adam over the
# steps. Measured: 1.3e-8 relative; 1e-5 leaves room for other BLAS builds, while any sharding or weighting bug
# (a rank's batch twice, per-rank means averaged unweighted) moves the first epoch's loss by far more.
LOSS_RTOL = 1e-5


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def _losses(out: Path) -> list[float]:
    return [e["loss"] for e in json.loads((out / "history.json").read_text())]


def test_two_gloo_processes_match_one_process_loss_curve(tmp_path):
    args = ["--users", "200", "--epochs", "2", "--batch-size", "32"]
    single = subprocess.run([sys.executable, str(WORKER), str(tmp_path / "one"), *args], env=_env(),
                            capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          str(WORKER), str(tmp_path / "two"), *args], env=_env(),
                         capture_output=True, text=True, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(one) == len(two) == 2
    assert np.allclose(two, one, rtol=LOSS_RTOL, atol=0), (one, two)


def test_shard_indices_tile_the_range_in_order():
    for n, world in [(10, 3), (2, 4), (0, 2), (7, 1)]:
        parts = [shard_indices(n, r, world) for r in range(world)]
        assert np.concatenate(parts).tolist() == list(range(n))
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
    with pytest.raises(ValueError, match="outside a world"):
        shard_indices(5, 2, 2)


def test_single_process_helpers_are_identities():
    rows = torch.arange(6).view(3, 2)
    assert all_gather_rows(rows, 3) is rows
    assert per_rank_batch(128, 1) == 128
    with pytest.raises(ValueError, match="not divisible by the 3 processes"):
        per_rank_batch(128, 3)


GATHER = """
import sys, torch
from mmrec.train import distributed
group = distributed.init_from_env()
n = 7  # uneven: blocks of 4 and 3 rows
rows = distributed.shard_indices(n, group.rank, group.world_size)
local = torch.tensor(rows, dtype=torch.float32)[:, None] * torch.ones(1, 3)  # what 'encoding' row i gives: i
full = distributed.all_gather_rows(local, n)
assert torch.equal(full, torch.arange(n, dtype=torch.float32)[:, None] * torch.ones(1, 3)), full
print(f"rank {group.rank} ok {tuple(full.shape)}")
"""


def test_sharded_rows_gather_back_in_order_across_two_processes(tmp_path):
    script = tmp_path / "gather.py"
    script.write_text(GATHER)
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          str(script)], env=_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("ok (7, 3)") == 2


def test_sharded_encoding_equals_single_process():
    worker = REPO / "tests" / "distributed" / "encode_worker.py"
    ran = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          str(worker), "23"], env=_env(), capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "rank 0/2 ok (23, 2)" in ran.stdout and "rank 1/2 ok (23, 2)" in ran.stdout

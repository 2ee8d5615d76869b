"""keep_freed_memory: training steps reuse the memory freed by the step before instead of faulting in fresh pages
(each case in its own process: the setting is process-wide)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

PROBE = """
import resource, torch
from mmrec.core.allocator import keep_freed_memory
from mmrec.models.sasrec import SASRec, SASRecConfig
from mmrec.train.losses import full_softmax_ce
applied = keep_freed_memory()
torch.set_num_threads(1)
torch.manual_seed(0)
model = SASRec(SASRecConfig(n_items=1682, dim=64, max_len=50))
optimizer = torch.optim.AdamW(model.parameters())
windows = torch.randint(1, 1683, (128, 51))


def step():  # the whole full-softmax logits, not chunks: 128 x 50 x 1683 floats, a fresh 43 MB tensor each step
    loss = full_softmax_ce(model(windows[:, :-1]), windows[:, 1:], model.item_repr, logits_budget=1 << 62)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


step()
step()  # the second step still settles where the first one's tensors went
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):  # kept: at most ~12k faults in all (the heap settling once); not kept: ~57k per step
    step()
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _probe(opt: str) -> tuple[bool, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["MMREC_KEEP_FREED_MEMORY"] = opt
    applied, faults = subprocess.run([sys.executable, "-c", PROBE], env=env, check=True, capture_output=True,
                                     text=True).stdout.split()
    return applied == "True", int(faults)


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_training_steps_reuse_freed_memory_unless_opted_out():
    applied, faults = _probe("1")
    not_applied, faults_without = _probe("0")
    assert applied and not not_applied
    logits_pages = 128 * 50 * 1683 * 4 // 4096  # one fresh logits tensor, in 4 KB pages
    assert faults_without > 3 * logits_pages  # glibc's mmap path faults every step's large tensors in again
    assert faults < faults_without / 10

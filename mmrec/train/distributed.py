"""Multi-process runs under ``torchrun``: the process group, rank-0-only writes, sharding and gathering.

``torchrun --nproc_per_node=N -m mmrec run RECIPE`` starts N copies of the CLI; :func:`init_from_env` joins them
into one process group (NCCL when each rank has a GPU, gloo on CPU). Without ``torchrun`` (``WORLD_SIZE`` unset
or 1) every helper here is a no-op, so single-process code paths stay exactly as they were.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import datetime
import os
from collections.abc import Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import nn


@dataclasses.dataclass(frozen=True)
class DistContext:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes artifacts, checkpoints and reports."""
        return self.rank == 0

    @property
    def device(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if torch.cuda.is_available() else torch.device("cpu")


_SINGLE: list[bool] = []  # non-empty while rank 0 runs a single-process stage (see single_process)


def context() -> DistContext:
    """The current process group's rank and size (rank 0 of 1 outside ``torchrun`` or inside :func:`single_process`)."""
    if _SINGLE:
        return DistContext()
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return DistContext()


def local_workers(requested: int) -> int:
    """How many worker processes a stage may spawn (``encode.workers``, ``train.workers``): the request in a
    single-process run, 1 under ``torchrun`` (the ranks are the parallelism there)."""
    return requested if context().world_size == 1 else 1


@contextlib.contextmanager
def single_process() -> Iterator[None]:
    """Rank 0 working alone (a stage that is not ``distributed`` while the other ranks wait at a barrier): inside,
    every helper here behaves as in one process (no DDP wrapper, no collectives), so training cannot wait forever
    on ranks that are not training."""
    _SINGLE.append(True)
    try:
        yield
    finally:
        _SINGLE.pop()


def init_from_env(timeout_minutes: float = 60.0) -> DistContext:
    """Join the process group ``torchrun`` describes in the environment (idempotent; no-op for one process)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        # generous: non-main ranks wait in a barrier while rank 0 runs single-process stages such as prepare
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=timeout_minutes))
        atexit.register(_leave)
    return context()


def _leave() -> None:
    """At exit: wait for every rank, then tear the group down, so no rank exits while a peer still talks to it
    (gloo aborts a process whose peer vanished mid-collective)."""
    if dist.is_initialized():
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (e.g. until rank 0 has written what the others read next)."""
    if context().world_size > 1:
        dist.barrier()


def shard_indices(n: int, rank: int, world_size: int) -> np.ndarray:
    """Rank ``rank``'s contiguous block of ``range(n)``; blocks differ in size by at most one and tile 0..n-1 in order."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside a world of {world_size}")
    bounds = np.linspace(0, n, world_size + 1).round().astype(np.int64)
    return np.arange(bounds[rank], bounds[rank + 1])


def all_gather_rows(local: torch.Tensor, n: int) -> torch.Tensor:
    """Concatenate every rank's ``shard_indices`` block of rows (rank order) into the full (n, ...) tensor on all ranks."""
    ctx = context()
    if ctx.world_size == 1:
        return local
    sizes = [len(shard_indices(n, r, ctx.world_size)) for r in range(ctx.world_size)]
    if len(local) != sizes[ctx.rank]:
        raise ValueError(f"rank {ctx.rank} holds {len(local)} rows, its shard of {n} has {sizes[ctx.rank]}")
    padded = local.new_zeros((max(sizes), *local.shape[1:]))
    padded[:len(local)] = local
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([part[:size] for part, size in zip(parts, sizes)])


def all_reduce_sum(value: torch.Tensor) -> torch.Tensor:
    """Sum of ``value`` over ranks (returned, not in place)."""
    if context().world_size == 1:
        return value
    out = value.clone()
    dist.all_reduce(out)
    return out


def gather_rng_states() -> dict[str, torch.Tensor]:
    """Every rank's torch CPU RNG state as ``torch_rng.rank<r>`` (empty in one process), for rank 0's checkpoint:
    ranks draw different dropout masks, so each must resume from its own state for an exact resume."""
    ctx = context()
    if ctx.world_size == 1:
        return {}
    state = torch.get_rng_state().to(ctx.device)  # NCCL moves only GPU tensors
    parts = [torch.empty_like(state) for _ in range(ctx.world_size)]
    dist.all_gather(parts, state)
    return {f"torch_rng.rank{r}": part.cpu() for r, part in enumerate(parts)}


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``DistributedDataParallel`` around ``model`` in a multi-process run, else the model itself."""
    if context().world_size == 1:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def per_rank_batch(global_batch: int, world_size: int) -> int:
    """Rows each rank takes per step, so that ``world_size`` ranks together step on ``global_batch`` rows."""
    if global_batch % world_size:
        raise ValueError(f"train.batch_size {global_batch} is not divisible by the {world_size} processes; "
                         f"the global batch is split evenly across ranks")
    return global_batch // world_size

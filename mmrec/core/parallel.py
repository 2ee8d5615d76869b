"""Independent pieces of a stage in worker processes, the torch threads split between them.

Small models use the threads of one process badly (a SASRec epoch on this project's 2-core machine: 10.2 s on 1
thread, 6.7 s on 2, 1.5x), so two 1-thread workers on independent pieces finish sooner than one 2-thread
process running them in turn: the demo's train_seq took 216 s instead of 250. Big matmuls scale well (the LLM
encoder: 124 s on 2 threads, 246 s on 1), and there workers do not pay. Workers are spawned (no fork of a
process holding torch's thread pool), log through the ``mmrec`` logger like the parent, and a piece's exception
reaches the caller with the pieces not yet started cancelled.

Within one process, :func:`map_in_threads` does the same for pieces that share the process's tensors (the chunks
of one evaluation): torch releases the GIL inside its kernels, so two 1-thread workers run two chunks at once.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, ThreadPoolExecutor, wait
from typing import Any


def threads_per_worker(workers: int) -> int:
    """An equal share of torch's current thread count per worker, at least 1."""
    import torch

    return max(1, torch.get_num_threads() // workers)


def _init_worker(threads: int, level: int) -> None:
    import torch

    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    logging.basicConfig(level=level, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")


def run_in_workers(fn: Callable[..., Any], tasks: Sequence[tuple], workers: int) -> list[Any]:
    """``[fn(*task) for task in tasks]`` over ``workers`` spawned processes (``fn`` and the tasks picklable;
    ``fn`` a module-level function), results in task order; with one worker or one task, in this process."""
    if workers <= 1 or len(tasks) <= 1:
        return [fn(*task) for task in tasks]
    threads = threads_per_worker(workers)
    level = logging.getLogger("mmrec").getEffectiveLevel()
    with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_worker, initargs=(threads, level)) as pool:
        futures = [pool.submit(fn, *task) for task in tasks]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            for future in futures:
                future.cancel()
            raise failed[0].exception()
        return [f.result() for f in futures]


def map_in_threads(fn: Callable[[Any], Any], items: Sequence[Any], workers: int) -> list[Any]:
    """``[fn(item) for item in items]`` over ``workers`` threads of this process, results in order, torch's
    intra-op threads split between them for the duration (and restored after); never more workers than torch has
    threads (a 1-thread worker process of :func:`run_in_workers` maps in its own thread). Thread-local torch state
    (grad mode, autocast) does not carry into the workers: ``fn`` sets its own."""
    import torch

    threads = torch.get_num_threads()
    workers = min(workers, threads, len(items))
    if workers <= 1:
        return [fn(item) for item in items]
    torch.set_num_threads(threads_per_worker(workers))
    try:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(fn, items))
    finally:
        torch.set_num_threads(threads)

"""Keep freed memory in the process for reuse (glibc), so large CPU tensors stop costing page faults every step.

glibc serves each allocation above its mmap threshold (at most 32 MB) with fresh pages from the kernel and hands
them back on free, so a step that allocates the same 40 MB tensor every time pays to fault in and zero it every
time: SASRec's whole full-softmax logits did (1.25x on its training step), and evaluation chunks of 1,024 users'
activations still do (1.19x, ``benchmarks/bench_allocator.py``). Since the logits are computed in chunks
(``mmrec.train.losses``), the training step gains 1.04x. :func:`keep_freed_memory` turns those mmap allocations
off and the trimming of the heap down, as ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=...`` in the environment
would. The cost: memory once freed stays with the process, so it holds its peak, not its current use, until it
exits. ``mmrec run`` applies it; ``MMREC_KEEP_FREED_MEMORY=0`` opts out. A no-op off glibc (macOS, musl).
"""

from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's mallopt parameter numbers (malloc.h)
TRIM_THRESHOLD = 2**31 - 1  # the largest int mallopt takes: in practice, never trim
OPT_OUT = "MMREC_KEEP_FREED_MEMORY"


def keep_freed_memory() -> bool:
    """Apply to this process and (through the environment) to the processes it starts; True if applied."""
    if os.environ.get(OPT_OUT, "1") == "0" or platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL("libc.so.6")
    if not (libc.mallopt(M_MMAP_MAX, 0) and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
        return False
    os.environ.setdefault("MALLOC_MMAP_MAX_", "0")  # read by glibc when a spawned worker starts
    os.environ.setdefault("MALLOC_TRIM_THRESHOLD_", str(TRIM_THRESHOLD))
    return True

"""Keep freed memory in the process for reuse (glibc), so large CPU tensors stop costing page faults every step.

glibc serves each allocation above its mmap threshold (at most 32 MB) with fresh pages from the kernel and hands
them back on free, so a training step that allocates the same 40 MB of full-softmax logits every time pays to
fault in and zero them every time, and evaluation chunks of 1,024 users did the same with their activations.
:func:`keep_freed_memory` turns those mmap allocations off and the trimming of the heap down, as
``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=...`` in the environment would: SASRec's training step on ml-100k ran
1.25x faster (``benchmarks/bench_allocator.py``). The cost: memory once freed stays with the process, so it holds
its peak, not its current use, until it exits. ``mmrec run`` applies it; ``MMREC_KEEP_FREED_MEMORY=0`` opts out.
A no-op off glibc (macOS, musl), where the allocator differs.
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

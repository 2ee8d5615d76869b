"""Hand the pages of buffers already read back to the kernel, so a one-pass scan of a mapped file stays flat.

Reading every row of a memory-mapped Arrow column maps its pages into the process one by one, and RSS counts
them until the mapping is closed: building the samples of a 20M-event CTR split touched its 2.4 GB history
column, and the process peaked at 9.2 GB with 4.9 GB of its own memory. ``MADV_PAGEOUT`` (Linux 5.4+) asks the
kernel to reclaim such pages now. It is a hint, not a discard: the data stay readable (a later read faults them
back in from the file), and anonymous memory is only ever swapped, never lost, so any buffer may be passed.
A no-op off Linux; on kernels before 5.4 the call fails and is ignored.
"""

from __future__ import annotations

import ctypes
import mmap
import sys
from collections.abc import Iterable

import pyarrow as pa

# Linux's value (asm-generic/mman-common.h); Python's mmap module lacks it when built on older headers
MADV_PAGEOUT = getattr(mmap, "MADV_PAGEOUT", 21) if sys.platform.startswith("linux") else None
_libc = ctypes.CDLL(None, use_errno=True) if MADV_PAGEOUT is not None else None


def release_pages(buffers: Iterable[pa.Buffer | None]) -> None:
    """Ask the kernel to reclaim the whole pages under each buffer (``None`` entries, as Arrow's absent
    validity bitmaps, are skipped); failures are ignored, as for any hint."""
    if _libc is None:
        return
    for buffer in buffers:
        if buffer is None or buffer.size == 0 or not buffer.is_cpu:
            continue
        start = buffer.address - buffer.address % mmap.PAGESIZE  # madvise needs a page-aligned start
        _libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(buffer.address + buffer.size - start), MADV_PAGEOUT)

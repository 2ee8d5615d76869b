"""release_pages: a memory-mapped buffer's pages leave the process's RSS once released, its data unchanged."""

import sys

import numpy as np
import pyarrow as pa
import pytest

from mmrec.core.pages import release_pages


def _rss_file_mib() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("RssFile:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssFile in /proc/self/status")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="MADV_PAGEOUT and /proc are Linux's")
def test_released_pages_leave_rss_and_the_data_stays(tmp_path):
    values = np.random.default_rng(0).integers(0, 1 << 40, size=8 << 20)  # 64 MiB
    path = tmp_path / "values.bin"
    values.tofile(path)
    with pa.memory_map(str(path)) as source:
        buffer = source.read_buffer()
        mapped = np.frombuffer(buffer, dtype=np.int64)
        before = _rss_file_mib()
        checksum = int(mapped.sum())  # touches every page
        touched = _rss_file_mib()
        release_pages([None, buffer])
        released = _rss_file_mib()
        assert touched - before > 48 and touched - released > 48, (before, touched, released)
        assert int(mapped.sum()) == checksum == int(values.sum())  # read again: faulted back in from the file


def test_anonymous_memory_is_kept():
    values = np.arange(1 << 20, dtype=np.int64)
    release_pages([pa.py_buffer(values)])
    assert np.array_equal(values, np.arange(1 << 20, dtype=np.int64))

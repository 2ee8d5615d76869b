"""Peak resident memory of a block of code, sampled from /proc by a thread (Linux): for the benchmarks' memory
columns, run as ``with PeakRSS() as rss: ...; rss.peak_mb``."""

from __future__ import annotations

import os
import threading


class PeakRSS:
    """Samples this process's resident memory every ``interval`` seconds; ``peak_mb`` is the largest increase over the start."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._rss())

    @property
    def peak_mb(self) -> float:
        return (self.peak - self.start) / 2**20

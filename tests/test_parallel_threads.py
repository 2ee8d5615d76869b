"""map_in_threads: pieces of one process's work on worker threads, torch's threads split and restored."""

from __future__ import annotations

import threading

import pytest
import torch

from mmrec.core.parallel import map_in_threads


@pytest.fixture
def two_torch_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def test_two_workers_run_at_once_one_torch_thread_each_results_in_order(two_torch_threads) -> None:
    both_running = threading.Barrier(2, timeout=10)  # breaks (and fails the test) unless two pieces overlap
    seen = []

    def piece(i: int) -> tuple[int, int]:
        if i < 2:
            both_running.wait()
        seen.append(threading.get_ident())
        return i * i, torch.get_num_threads()

    out = map_in_threads(piece, range(6), workers=2)
    assert [square for square, _ in out] == [i * i for i in range(6)]
    assert {threads for _, threads in out} == {1} and len(set(seen)) == 2
    assert threading.get_ident() not in seen and torch.get_num_threads() == 2


def test_never_more_workers_than_torch_threads() -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert map_in_threads(lambda i: threading.get_ident(), range(4), workers=2) == [threading.get_ident()] * 4
    finally:
        torch.set_num_threads(threads)


def test_a_failing_piece_raises_and_the_threads_are_restored(two_torch_threads) -> None:
    def piece(i: int) -> int:
        if i == 3:
            raise ValueError("piece 3")
        return i

    with pytest.raises(ValueError, match="piece 3"):
        map_in_threads(piece, range(5), workers=2)
    assert torch.get_num_threads() == 2

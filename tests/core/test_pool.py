"""The crew of threads that every parallel map and the push's uploads run on."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from datayard.core.events import Cancelled, CancelToken
from datayard.core.pool import run_parallel


def test_every_item_once_whatever_the_order_they_end_in() -> None:
    results = run_parallel(lambda n: n * n, range(1000), workers=8, cancel=None, name="t")
    assert sorted(results) == [n * n for n in range(1000)]


def test_the_error_of_an_item_is_raised_and_no_item_starts_after_it() -> None:
    started: list[int] = []

    def work(n: int) -> int:
        started.append(n)
        if n == 3:
            raise ValueError("item 3")
        return n

    with pytest.raises(ValueError, match="item 3"):
        list(run_parallel(work, range(100), workers=1, cancel=None, name="t"))
    assert started[:4] == [0, 1, 2, 3] and len(started) < 100


def test_an_error_of_the_items_themselves_is_raised() -> None:
    def items() -> Iterator[int]:
        yield 1
        raise OSError("the listing broke")

    with pytest.raises(OSError, match="the listing broke"):
        list(run_parallel(lambda n: n, items(), workers=2, cancel=None, name="t"))


def test_after_a_cancel_no_item_starts_and_cancelled_is_raised() -> None:
    cancel = CancelToken()
    started: list[int] = []

    def work(n: int) -> int:
        started.append(n)
        if n == 5:
            cancel.set()
        return n

    done: list[int] = []
    with pytest.raises(Cancelled):
        done.extend(run_parallel(work, range(100), workers=1, cancel=cancel, name="t"))
    assert started == list(range(6)) and sorted(done) == started


def test_closing_the_results_waits_for_the_running_item_and_starts_no_other() -> None:
    release, running = threading.Event(), threading.Event()
    happened: list[str] = []

    def work(n: int) -> int:
        happened.append(f"started {n}")
        if n == 1:
            running.set()
            release.wait(10)
            happened.append("finished 1")
        return n

    results = run_parallel(work, range(100), workers=1, cancel=None, name="t")
    assert next(results) == 0
    assert running.wait(10)

    def close() -> None:
        results.close()
        happened.append("closed")

    closer = threading.Thread(target=close)
    closer.start()
    release.set()
    closer.join(10)
    assert happened == ["started 0", "started 1", "finished 1", "closed"]
